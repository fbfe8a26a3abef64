package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// runCompact writes one marker key and compacts etcd's history up to it, so that every
// resourceVersion a watcher held before is gone: its next watch gets 410 Gone and must relist.
// Used by the tests of watch expiry while the apiserver is down (nothing else writes then).
func runCompact(args []string) int {
	fs := flag.NewFlagSet("etcd-compact", flag.ContinueOnError)
	endpoint := fs.String("endpoint", "http://127.0.0.1:2379", "etcd client URL")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{*endpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		fmt.Fprintf(os.Stderr, "etcd-compact: %v\n", err)
		return 1
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	put, err := cli.Put(ctx, "/affinity-relocator-test/compaction-marker", time.Now().String())
	if err != nil {
		fmt.Fprintf(os.Stderr, "etcd-compact: put: %v\n", err)
		return 1
	}
	rev := put.Header.Revision
	if _, err := cli.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
		fmt.Fprintf(os.Stderr, "etcd-compact: compact: %v\n", err)
		return 1
	}
	fmt.Println(rev)
	return 0
}
