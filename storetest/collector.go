package storetest

import (
	"context"
	"slices"
	"sync"

	"github.com/activitylog/activitylog"
)

// Collector keeps the events recorded through it: a stand-in for an
// activitylog.Recorder in tests of what a component audits (its Record
// has the Recorder's signature). It is safe for concurrent use.
type Collector struct {
	mu     sync.Mutex
	events []activitylog.Event
}

// Record keeps e.
func (c *Collector) Record(_ context.Context, e activitylog.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, e)
	return nil
}

// Events returns a copy of the events recorded so far, in order.
func (c *Collector) Events() []activitylog.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.events)
}
