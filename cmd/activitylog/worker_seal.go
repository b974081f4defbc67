package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/internal/config"
)

// Sealing in activitylog worker (docs/nats.md, "Sealing and routing in
// the worker").
//
// Every writer process appends to a chain of its own (docs/integrity.md,
// "Chains"), so each worker claims one: the first of BASE, BASE.2,
// BASE.3, … whose lock ("chain." and the id) it can take, and holds
// that lock for as long as it runs. BASE is "worker-" and the host
// name, or integrity_chain and ".worker" when that is set: never
// serve's chain (integrity_chain, or "serve-" and the host name). A
// worker that restarts takes the first chain free again, and so goes
// on with a chain a worker stopped before it, from its stored tail
// (anchoring what that one left without a checkpoint): the number of
// chains stays the number of workers that ran at once. The chain's
// generations (ID:2, …) work as serve's.

// maxWorkerChains bounds the chains a worker tries to claim.
const maxWorkerChains = 64

// errChainLost is why a worker stops when the lock of its chain was
// lost: another worker may now take the chain, and two writers must
// never share one.
var errChainLost = errors.New("integrity: the worker lost the lock of its chain, which another worker may now take; stopping (restart it to claim a chain again)")

// workerChainBase is the first chain id a worker tries.
func workerChainBase(cfg config.Config) string {
	if cfg.IntegrityChain != "" {
		return cfg.IntegrityChain + ".worker"
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "worker"
	}
	return "worker-" + sanitizeChain(h)
}

// workerChain is the id of the nth chain of base.
func workerChain(base string, n int) string {
	if n <= 1 {
		return base
	}
	return base + "." + strconv.Itoa(n)
}

// claimChain takes the lock of the first chain of base that no other
// worker holds and returns its id and the held lock.
func claimChain(ctx context.Context, locker Locker, base string) (string, HeldLock, error) {
	// The longest id this may give, with a generation: it must be
	// valid, or a torn chain could not move on.
	if err := integrity.ValidateChainID(workerChain(base, maxWorkerChains) + ":99"); err != nil {
		return "", nil, &config.Error{Key: "integrity_chain", Value: base,
			Reason: "leaves no room for the worker's chain suffixes (.64:99): " + err.Error()}
	}
	for n := 1; n <= maxWorkerChains; n++ {
		id := workerChain(base, n)
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		lk, err := locker.TryLock(cctx, "chain."+id)
		cancel()
		if err != nil {
			return "", nil, fmt.Errorf("integrity: claim chain %s (%s): %w", id, locker, err)
		}
		if lk != nil {
			return id, lk, nil
		}
	}
	return "", nil, fmt.Errorf("integrity: the %d chains %s … %s are all held by other workers (%s)",
		maxWorkerChains, base, workerChain(base, maxWorkerChains), locker)
}
