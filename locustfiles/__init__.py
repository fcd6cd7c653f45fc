"""Locust files the drill hands to `locust -f`; nonstop itself never imports them (Locust monkey-patches)."""
