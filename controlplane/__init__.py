"""Not Python code: this folder is the Go module that builds the real control plane (main.go, go.mod, go.sum).

setup.py installs it as the data package `nonstop.bundled_controlplane`, so `nonstop controlplane
build` finds the module files in a wheel as in a checkout (nonstop/sandbox/real/build.py).
"""
