package natsq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/nats-io/nats.go/jetstream"
)

// Lease errors.
var (
	// ErrLeaseHeld: another holder has the lease.
	ErrLeaseHeld = errors.New("lease held by another holder")
	// ErrLeaseLost: the lease expired or was taken over before it was
	// renewed.
	ErrLeaseLost = errors.New("lease lost")
)

// LeaseBucket creates (or updates) the key-value bucket for leases,
// whose entries expire ttl after their last write, and returns it. All
// leases of a bucket share that ttl.
func LeaseBucket(ctx context.Context, js jetstream.JetStream, bucket string, ttl time.Duration) (jetstream.KeyValue, error) {
	if ttl <= 0 {
		return nil, activitylog.Invalid("ttl", ttl.String(), "must be positive")
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: "activitylog leases",
		TTL:         ttl,
		History:     1,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		if errors.Is(err, jetstream.ErrInvalidBucketName) {
			return nil, activitylog.Invalid("bucket", bucket, "must be letters, digits, '-' and '_'")
		}
		return nil, unavailable("create lease bucket "+bucket, err)
	}
	return kv, nil
}

// Lease is held by one holder at a time: a job that must run on one
// replica acquires it, renews it well within the bucket's ttl, and
// releases it when done. A holder that stops renewing (it crashed, or
// lost NATS) loses the lease when its entry expires, ttl after the last
// renewal, and another holder can acquire it.
//
// A lease is a lock with a timeout, not a fence: a holder paused for
// longer than ttl may still act while another holds the lease. Jobs
// whose effects must not overlap should stay idempotent.
type Lease struct {
	kv     jetstream.KeyValue
	name   string
	holder string
	ttl    time.Duration

	mu  sync.Mutex
	rev uint64
}

// AcquireLease takes the lease name for holder, or returns an error
// wrapping ErrLeaseHeld when another holder has it. ttl is the bucket's
// (see LeaseBucket); it sets how often KeepAlive renews.
func AcquireLease(ctx context.Context, kv jetstream.KeyValue, name, holder string, ttl time.Duration) (*Lease, error) {
	if kv == nil {
		return nil, activitylog.Invalid("kv", "nil", "is required")
	}
	if ttl <= 0 {
		return nil, activitylog.Invalid("ttl", ttl.String(), "must be positive")
	}
	if holder == "" {
		return nil, activitylog.Invalid("holder", holder, "is required")
	}
	rev, err := kv.Create(ctx, name, []byte(holder))
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			who := ""
			if e, gerr := kv.Get(ctx, name); gerr == nil {
				who = string(e.Value())
			}
			return nil, fmt.Errorf("acquire lease %s: %w: %s", name, ErrLeaseHeld, who)
		}
		if errors.Is(err, jetstream.ErrInvalidKey) {
			return nil, activitylog.Invalid("name", name, "is not a valid key")
		}
		return nil, fmt.Errorf("acquire lease %s: %w: %w", name, activitylog.ErrUnavailable, err)
	}
	return &Lease{kv: kv, name: name, holder: holder, ttl: ttl, rev: rev}, nil
}

// Renew extends the lease by the bucket's ttl. It returns an error
// wrapping ErrLeaseLost when the lease expired or another holder took
// it, and one wrapping activitylog.ErrUnavailable when NATS did not
// answer (the lease may still be held: try again before ttl passes).
func (l *Lease) Renew(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rev == 0 {
		return fmt.Errorf("renew lease %s: %w", l.name, ErrLeaseLost)
	}
	rev, err := l.kv.Update(ctx, l.name, []byte(l.holder), l.rev)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
			l.rev = 0
			return fmt.Errorf("renew lease %s: %w", l.name, ErrLeaseLost)
		}
		return fmt.Errorf("renew lease %s: %w: %w", l.name, activitylog.ErrUnavailable, err)
	}
	l.rev = rev
	return nil
}

// Release gives the lease up, if this holder still has it.
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rev == 0 {
		return nil
	}
	err := l.kv.Delete(ctx, l.name, jetstream.LastRevision(l.rev))
	l.rev = 0
	if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		var apiErr *jetstream.APIError
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || (errors.As(err, &apiErr) &&
			(apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)) {
			return nil // someone else holds it now
		}
		return fmt.Errorf("release lease %s: %w: %w", l.name, activitylog.ErrUnavailable, err)
	}
	return nil
}

// KeepAlive renews the lease every ttl/3 until ctx ends, then releases
// it and returns nil. It returns an error wrapping ErrLeaseLost when
// the lease was lost, or when no renewal succeeded for ttl: the holder
// must then stop the job it guards.
func (l *Lease) KeepAlive(ctx context.Context) error {
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.ttl/3)
			defer cancel()
			return l.Release(rctx)
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, l.ttl/3)
		err := l.Renew(rctx)
		cancel()
		switch {
		case err == nil:
			last = time.Now()
		case errors.Is(err, ErrLeaseLost):
			return err
		case time.Since(last) >= l.ttl:
			l.mu.Lock()
			l.rev = 0
			l.mu.Unlock()
			return fmt.Errorf("keep lease %s: %w: %w", l.name, ErrLeaseLost, err)
		}
	}
}

// Holder returns the holder's name.
func (l *Lease) Holder() string { return l.holder }
