package integrityhttp_test

import (
	"context"
	"testing"
	"time"

	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/integrity/integrityhttp"
)

// The witness read that a verification starts with has a deadline: a
// witness that never answers cannot hold the one verification that
// runs at a time for good.
func TestVerifyWitnessReadHasDeadline(t *testing.T) {
	calls, bounded := 0, 0
	e := newEnv(t, &integrityhttp.Options{
		Witness: func(ctx context.Context) ([]integrity.Checkpoint, error) {
			calls++
			if d, ok := ctx.Deadline(); ok && time.Until(d) <= 31*time.Second {
				bounded++
			}
			return nil, nil
		},
	})
	var rep verifyBody
	e.getJSON(t, "/api/v1/integrity/verify", 200, &rep)
	if calls != 1 || bounded != 1 {
		t.Fatalf("the witness was read %d times, %d of them with a deadline of at most 30 s; want 1 and 1", calls, bounded)
	}
}
