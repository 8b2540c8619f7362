// Package k8s holds the fleet's Kubernetes manifests (a kustomize base and
// its overlays), internal to the fleet. It has no code: its tests decode
// every manifest strictly into the Kubernetes and KEDA API types, render the
// overlays, check the fleet's invariants on them, and check against a real
// Redis that the list each ScaledObject watches is the one asynq fills.
//
// It is a module of its own, so that k8s.io/api and KEDA stay out of the
// workers' go.mod:
//
//	cd deploy/k8s && go test ./...
package k8s
