package sqlite_test

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/activitylog/activitylog/integrity/sealtest"
	"github.com/activitylog/activitylog/sqlite"
)

var _ sealtest.Store = (*sqlite.Store)(nil)

func TestSealConformance(t *testing.T) {
	var paths sync.Map // *sqlite.Store → its file
	sealtest.Run(t, func(t *testing.T) sealtest.Store {
		path := filepath.Join(t.TempDir(), "audit.db")
		s := open(t, path, nil)
		paths.Store(s, path)
		return s
	}, &sealtest.Options{
		// The newest event (its row holds its seal) goes, the chain's
		// state stays.
		TearTail: func(t *testing.T, s sealtest.Store, chain string) {
			path, _ := paths.Load(s)
			exec(t, openRaw(t, path.(string)), `DELETE FROM events WHERE chain = ?
				AND chain_seq = (SELECT MAX(chain_seq) FROM events WHERE chain = ?)`, chain, chain)
		},
	})
}
