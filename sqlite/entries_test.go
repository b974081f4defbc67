package sqlite_test

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/sqlite"
	"github.com/activitylog/activitylog/storetest"
)

// Entries reads the table through a memory map. When another process
// truncates the database file under it, the read faults: that must be
// an error from Entries, not a crash of the process; and the store
// answers again once the file is whole.
func TestEntriesTruncatedUnderMap(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	s, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := integrity.NewWriter(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	es := storetest.Fixture(4000)
	for i := 0; i < len(es); i += 500 {
		if err := w.Write(ctx, es[i:i+500]); err != nil {
			t.Fatal(err)
		}
	}
	chain := w.Chain().ID
	if err := s.Close(); err != nil { // checkpoints the WAL into the file
		t.Fatal(err)
	}
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if s, err = sqlite.Open(path, nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	n := 0
	err = s.Entries(ctx, chain, func(integrity.Entry) error {
		if n++; n == 1 {
			if err := os.Truncate(path, 64<<10); err != nil {
				t.Fatal(err)
			}
		}
		return nil
	})
	if err == nil {
		t.Fatalf("Entries read %d entries of a truncated file without an error", n)
	}
	if n >= len(es) {
		t.Errorf("Entries delivered all %d entries of a truncated file", n)
	}
	t.Logf("after %d entries: %v", n, err)
	if !strings.Contains(err.Error(), "read events") {
		t.Errorf("error %q does not say what failed", err)
	}

	// The file whole again: the dropped connection is replaced.
	if err := os.WriteFile(path, whole, 0o644); err != nil {
		t.Fatal(err)
	}
	n = 0
	if err := s.Entries(ctx, chain, func(integrity.Entry) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != len(es) {
		t.Errorf("read %d entries after the repair, want %d", n, len(es))
	}
}

// entrySeqs reads chain through Entries: each entry's seq and id.
func entrySeqs(t *testing.T, path, chain string) []string {
	t.Helper()
	s, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got []string
	if err := s.Entries(context.Background(), chain, func(e integrity.Entry) error {
		seq := int64(0) // no seal: its seq is 0 or NULL
		if e.Seal != nil {
			seq = int64(e.Seal.Seq)
		}
		got = append(got, fmt.Sprintf("%d/%s", seq, e.EventID))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// indexOrder is what Entries must return: the chain's rows by
// chain_seq, as the (chain, chain_seq) index has them.
func indexOrder(t *testing.T, db *sql.DB, chain string) []string {
	t.Helper()
	rows, err := db.Query(`SELECT coalesce(chain_seq, 0), id FROM events WHERE chain = ? AND chain <> '' ORDER BY chain_seq`, chain)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var want []string
	for rows.Next() {
		var seq int64
		var id []byte
		if err := rows.Scan(&seq, &id); err != nil {
			t.Fatal(err)
		}
		var eid activitylog.ID
		copy(eid[:], id)
		want = append(want, fmt.Sprintf("%d/%s", seq, eid))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return want
}

// Entries reads a chain in table order while its rows are its next
// seqs, and by seq through the index from the first that is not: the
// result is by seq whatever was done to the table.
func TestEntriesOrderAfterEdits(t *testing.T) {
	tr := writeSealedTrail(t, false)
	for _, tc := range []struct {
		name  string
		edits []string
	}{
		{"untouched", nil},
		{"two seqs swapped", []string{
			`UPDATE events SET chain_seq = -1 WHERE chain_seq = 50`,
			`UPDATE events SET chain_seq = 50 WHERE chain_seq = 60`,
			`UPDATE events SET chain_seq = 60 WHERE chain_seq = -1`}},
		{"a middle event deleted", []string{`DELETE FROM events WHERE chain_seq = 30`}},
		{"the newest events deleted", []string{`DELETE FROM events WHERE chain_seq > 190`}},
		{"the first seq moved past the last", []string{`UPDATE events SET chain_seq = 1000 WHERE chain_seq = 1`}},
		{"a seq moved backwards", []string{`UPDATE events SET chain_seq = 0 WHERE chain_seq = 120`}},
		{"a seq made NULL", []string{`UPDATE events SET chain_seq = NULL WHERE chain_seq = 77`}},
		{"a row moved to the end of the table", []string{
			`CREATE TEMP TABLE m AS SELECT * FROM events WHERE chain_seq = 40`,
			`DELETE FROM events WHERE chain_seq = 40`,
			`UPDATE m SET seq = NULL`,
			`INSERT INTO events SELECT * FROM m`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, db := tr.copyDB(t)
			for _, q := range tc.edits {
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			want := indexOrder(t, db, tr.chain)
			got := entrySeqs(t, path, tr.chain)
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("Entries gave\n%v\nwant, by seq,\n%v", got, want)
			}
		})
	}
}

// Chains written in turns, each a third of the table: read by the
// index, each complete and by seq.
func TestEntriesInterleavedChains(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "i.db")
	s, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ws []*integrity.Writer
	for range 3 {
		w, err := integrity.NewWriter(s, nil)
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	es := storetest.Fixture(900)
	for i := 0; i < len(es); i += 10 {
		if err := ws[(i/10)%3].Write(ctx, es[i:i+10]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, w := range ws {
		want := indexOrder(t, db, w.Chain().ID)
		got := entrySeqs(t, path, w.Chain().ID)
		if len(want) != 300 || strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("chain %s: Entries gave %d entries, want %d by seq", w.Chain().ID, len(got), len(want))
		}
	}
}

// A forged row of a chain stored where the chain's other rows are not
// (the end of the table) is read and caught: with the unique index gone
// and a copy of seq 40 (a new id and message) appended; and with the
// index kept and a seq of 40.5, which sorts between 40 and 41. A reader
// that read the chain's rowid range in table order missed both (the
// security review of 2026-11-24).
func TestEntriesReadsEveryRow(t *testing.T) {
	tr := writeSealedTrail(t, false)
	forge := func(t *testing.T, db *sql.DB, seq string) activitylog.ID {
		t.Helper()
		id := activitylog.NewID(time.Now())
		exec(t, db, `CREATE TEMP TABLE f AS SELECT * FROM events WHERE chain_seq = 40`)
		exec(t, db, `UPDATE f SET seq = NULL, id = ?, message = 'FORGED: wire transfer approved', chain_seq = `+seq, id[:])
		exec(t, db, `UPDATE f SET data = json_set(CAST(data AS TEXT), '$.id', ?, '$.message', 'FORGED: wire transfer approved')`, id.String())
		exec(t, db, `INSERT INTO events SELECT * FROM f`)
		return id
	}
	t.Run("duplicate seq, index dropped", func(t *testing.T) {
		path, db := tr.copyDB(t)
		exec(t, db, `DROP INDEX events_chain_seq`)
		forge(t, db, "40")
		if got := entrySeqs(t, path, tr.chain); len(got) != tamperEvents+1 {
			t.Errorf("Entries gave %d entries, want all %d rows", len(got), tamperEvents+1)
		}
		if rep := tr.verify(t, path, true); rep.OK() {
			t.Errorf("a forged duplicate of seq 40 verifies clean: %+v", rep)
		}
	})
	t.Run("seq 40.5, index kept", func(t *testing.T) {
		path, _ := tr.copyDB(t)
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		forge(t, db, "40.5")
		db.Close()
		s, err := sqlite.Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		rep, err := integrity.NewVerifier(s, &integrity.VerifierOptions{PublicKeys: []ed25519.PublicKey{tr.pub}}).Verify(context.Background())
		if err == nil && rep.OK() {
			t.Errorf("a forged row with seq 40.5 verifies clean: %+v", rep)
		}
	})
}
