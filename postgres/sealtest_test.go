package postgres

import (
	"context"
	"testing"

	"github.com/activitylog/activitylog/integrity/sealtest"
)

var _ sealtest.Store = (*Store)(nil)

func TestSealConformance(t *testing.T) {
	testDSN(t)
	sealtest.Run(t, func(t *testing.T) sealtest.Store { return openTest(t, nil) }, &sealtest.Options{
		// The newest seal goes, the chain's state stays.
		TearTail: func(t *testing.T, s sealtest.Store, chain string) {
			if _, err := s.(*Store).pool.Exec(context.Background(),
				`DELETE FROM seals WHERE chain = $1 AND seq = (SELECT max(seq) FROM seals WHERE chain = $1)`, chain); err != nil {
				t.Fatal(err)
			}
		},
	})
}
