// Command nonstop-controlplane links the four programs of a real Kubernetes
// control plane into one binary, so their shared dependencies compile once.
//
// The first argument chooses the program; the rest are its own flags:
//
//	nonstop-controlplane etcd --data-dir=... --listen-client-urls=...
//	nonstop-controlplane kube-apiserver --etcd-servers=... ...
//	nonstop-controlplane kube-controller-manager --kubeconfig=... ...
//	nonstop-controlplane kube-scheduler --kubeconfig=... ...
//	nonstop-controlplane version
//
// Nothing here is Kubernetes source: each program is its upstream app
// package's command, pinned by go.mod next to this file. The Python side
// (nonstop/sandbox/real/) builds and starts it.
package main

import (
	"fmt"
	"os"
	_ "time/tzdata" // CronJob time zones, as the upstream mains do

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/component-base/version"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

const usage = "usage: nonstop-controlplane etcd|kube-apiserver|kube-controller-manager|kube-scheduler|version [flags]"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	name, rest := os.Args[1], os.Args[2:]
	var command *cobra.Command
	switch name {
	case "etcd":
		// etcdmain.Main reads its flags from args[1:], like os.Args.
		etcdmain.Main(append([]string{"etcd"}, rest...))
		return
	case "kube-apiserver":
		command = apiserver.NewAPIServerCommand()
	case "kube-controller-manager":
		command = controllermanager.NewControllerManagerCommand()
	case "kube-scheduler":
		command = scheduler.NewSchedulerCommand()
	case "version":
		fmt.Println(version.Get().GitVersion)
		return
	default:
		fmt.Fprintf(os.Stderr, "unknown program %q; %s\n", name, usage)
		os.Exit(2)
	}
	command.SetArgs(rest)
	os.Exit(cli.Run(command))
}
