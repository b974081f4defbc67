package multi_test

import (
	"context"
	"fmt"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/multi"
)

type named struct{ name string }

func (n named) Write(ctx context.Context, es []activitylog.Event) error {
	fmt.Println(n.name, "stored", len(es))
	return nil
}

type down struct{}

func (down) Write(ctx context.Context, es []activitylog.Event) error {
	return fmt.Errorf("connection refused: %w", activitylog.ErrUnavailable)
}

// Under All, a batch counts as written only when every target has it;
// the error names the target that does not.
func Example() {
	w, err := multi.New([]multi.Target{
		{Name: "primary", Writer: named{"primary"}},
		{Name: "archive", Writer: down{}},
	}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close(context.Background())
	now := time.Now().UTC()
	err = w.Write(context.Background(), []activitylog.Event{
		{ID: activitylog.NewID(now), Time: now, Kind: activitylog.KindCustom, Action: "ping", Severity: activitylog.SeverityInfo},
	})
	fmt.Println(err)
	// Output:
	// primary stored 1
	// write all targets: 1 of 2 failed: archive: connection refused: unavailable
}
