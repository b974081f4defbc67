package mysql_test

import (
	"testing"

	"github.com/activitylog/activitylog/integrity/sealtest"
	"github.com/activitylog/activitylog/mysql"
)

var _ sealtest.Store = (*mysql.Store)(nil)

func TestSealConformance(t *testing.T) {
	serverDSN(t)
	sealtest.Run(t, func(t *testing.T) sealtest.Store { return open(t, nil) }, &sealtest.Options{
		// The newest seal goes, the chain's state stays.
		TearTail: func(t *testing.T, s sealtest.Store, chain string) {
			if _, err := s.(*mysql.Store).DB().ExecContext(ctx, `DELETE FROM seals WHERE chain = ? ORDER BY seq DESC LIMIT 1`, chain); err != nil {
				t.Fatal(err)
			}
		},
	})
}
