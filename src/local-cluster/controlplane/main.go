// Command controlplane is the test suite's Kubernetes control plane in one binary:
//
//	controlplane etcd --data-dir D --listen-client-url U
//	controlplane apiserver [kube-apiserver flags]
//	controlplane scheduler [kube-scheduler flags]
//	controlplane controller-manager [kube-controller-manager flags]
//
// One binary so that the expensive link of k8s.io/kubernetes happens once (the same trick as
// hyperkube and k3s). Each subcommand is the upstream component's own cobra command, unchanged.
package main

import (
	"fmt"
	"os"
	_ "time/tzdata"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

const usage = "usage: controlplane etcd|etcd-compact|apiserver|scheduler|controller-manager|certs|version [flags]"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	sub, rest := os.Args[1], os.Args[2:]
	dieWithParent()
	// The upstream commands parse os.Args[1:] themselves: drop the subcommand name.
	os.Args = append([]string{os.Args[0] + " " + sub}, rest...)
	switch sub {
	case "etcd":
		os.Exit(runEtcd(rest))
	case "certs":
		os.Exit(runCerts(rest))
	case "etcd-compact":
		os.Exit(runCompact(rest))
	case "apiserver":
		os.Exit(cli.Run(apiserver.NewAPIServerCommand()))
	case "scheduler":
		os.Exit(cli.Run(scheduler.NewSchedulerCommand()))
	case "controller-manager":
		os.Exit(cli.Run(controllermanager.NewControllerManagerCommand()))
	case "version":
		fmt.Println(kubernetesVersion())
		os.Exit(0)
	default:
		fmt.Fprintf(os.Stderr, "unknown component %q\n%s\n", sub, usage)
		os.Exit(2)
	}
}
