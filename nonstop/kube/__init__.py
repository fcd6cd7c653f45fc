"""The one door to a cluster: the official `kubernetes` client, its calls, watches and actions."""
