package main

import (
	"context"
	"database/sql"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/postgres"
	"github.com/jackc/pgx/v5"
)

// sealInto writes n custom events sealed into one chain of store, in
// batches of 4, each with a signed checkpoint, and returns them.
func sealInto(t *testing.T, store integrity.SealStore, priv string, n int) []activitylog.Event {
	t.Helper()
	key, err := integrity.LoadPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	w, err := integrity.NewWriter(store, &integrity.WriterOptions{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().UTC().Truncate(time.Millisecond)
	var events []activitylog.Event
	for i := range n {
		events = append(events, activitylog.Event{ID: activitylog.NewID(start), Time: start.Add(time.Duration(i) * time.Millisecond),
			Kind: activitylog.KindCustom, Action: "x", Severity: activitylog.SeverityInfo, Message: "event " + string(rune('a'+i))})
	}
	for i := 0; i < n; i += 4 {
		if err := w.Write(context.Background(), events[i:min(n, i+4)]); err != nil {
			t.Fatal(err)
		}
	}
	return events
}

// tamperers change the message of one event's stored document, by
// store name, with the store's own SQL.
var tamperers = map[string]func(t *testing.T, url string, e activitylog.Event){
	"sqlite": func(t *testing.T, url string, e activitylog.Event) {
		execTamper(t, "sqlite", sqlitePath(url), `UPDATE events SET data = replace(CAST(data AS TEXT), ?, ?) WHERE id = ?`, e)
	},
	"postgres": func(t *testing.T, url string, e activitylog.Event) {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		tag, err := conn.Exec(ctx, `UPDATE `+postgres.DefaultSchema+`.events SET data = convert_to(replace(convert_from(data, 'UTF8'), $1, $2), 'UTF8') WHERE id = $3`,
			`"message":"`+e.Message+`"`, `"message":"forged"`, [16]byte(e.ID))
		if err != nil || tag.RowsAffected() != 1 {
			t.Fatalf("tamper: %v, %d rows", err, tag.RowsAffected())
		}
	},
	"mysql": func(t *testing.T, url string, e activitylog.Event) {
		u, err := neturl.Parse(url)
		if err != nil {
			t.Fatal(err)
		}
		execTamper(t, "mysql", u.User.Username()+"@tcp("+u.Host+")"+u.Path, `UPDATE events SET data = REPLACE(data, ?, ?) WHERE id = ?`, e)
	},
}

func execTamper(t *testing.T, driver, dsn, query string, e activitylog.Event) {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(query, `"message":"`+e.Message+`"`, `"message":"forged"`, e.ID[:])
	if err != nil {
		t.Fatalf("tamper: %v", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("tamper: %d rows changed, want 1", n)
	}
}

// verify --store URL and export --with-proofs --store URL read the
// trail sealed into each store that keeps seals, as serve seals it:
// verify exits 0 with the counts (also with the store from
// ACTIVITYLOG_STORE), whole and filtered bundles verify offline, --fix
// is refused where the store cannot seal old events, and after an edit
// made with the store's own SQL verify exits 1 naming the event
// modified. A store that keeps no seals is refused with a real server
// behind it too. The URL's password is never printed. Each server's
// case is skipped, naming its variable, when that is unset.
func TestVerifyStoreSealed(t *testing.T) {
	t.Parallel()
	for _, sc := range storeCases {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			storeURL := sc.url(t) // a database of its own; postgres's URL carries the password secret-pw
			dir := t.TempDir()
			priv, pub := filepath.Join(dir, "k.key"), filepath.Join(dir, "k.pub")
			if _, err := integrity.GenerateKeyFiles(priv, pub); err != nil {
				t.Fatal(err)
			}
			store := sc.open(t, storeURL)
			ss, seals := store.(integrity.SealStore)
			if _, ok := store.(integrity.Source); !seals || !ok {
				store.Close()
				r := runBin(t, nil, "verify", "--store", storeURL, "--public-key", pub)
				if r.code != 2 || !strings.Contains(r.stderr, "this store keeps no integrity seals") {
					t.Fatalf("verify of %s, which keeps no seals: exit %d, stdout %q, stderr %q", sc.name, r.code, r.stdout, r.stderr)
				}
				return
			}
			events := sealInto(t, ss, priv, 10)
			store.Close()
			noPassword := func(name string, r result) {
				t.Helper()
				if strings.Contains(r.stdout+r.stderr, "secret-pw") {
					t.Fatalf("%s printed the store's password: stdout %q, stderr %q", name, r.stdout, r.stderr)
				}
			}

			r := runBin(t, nil, "verify", "--store", storeURL, "--public-key", pub)
			noPassword("verify", r)
			if r.code != 0 || !strings.Contains(r.stdout, "events 10, verified 10, unsealed 0, chains 1, checkpoints 3 (3 verified)") ||
				!strings.HasSuffix(r.stdout, "\nOK\n") || !strings.HasPrefix(r.stdout, "store "+sc.name) {
				t.Fatalf("verify --store: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
			// The store setting from the environment, as serve reads it.
			r = runBin(t, []string{"ACTIVITYLOG_STORE=" + storeURL}, "verify", "--public-key", pub, "--json")
			noPassword("verify with ACTIVITYLOG_STORE", r)
			if r.code != 0 || !strings.Contains(r.stdout, `"verified": 10`) {
				t.Fatalf("verify with ACTIVITYLOG_STORE: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}

			bundle := filepath.Join(dir, "trail.ndjson.gz")
			r = runBin(t, nil, "export", "--with-proofs", "--store", storeURL, "--out", bundle, "--public-key", pub)
			noPassword("export", r)
			if r.code != 0 || !strings.Contains(r.stderr, ": 1 chains, 3 checkpoints, 0 prune records, 10 sealed events") {
				t.Fatalf("export --store: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
			if r := runBin(t, nil, "verify", "--bundle", bundle, "--public-key", pub); r.code != 0 ||
				!strings.Contains(r.stdout, "events 10, verified 10") {
				t.Fatalf("verify --bundle of the export: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
			// A filtered export: the selected events with inclusion proofs.
			since := filepath.Join(dir, "since.ndjson.gz")
			from := events[6].Time.Format(time.RFC3339Nano)
			if r := runBin(t, nil, "export", "--with-proofs", "--store", storeURL, "--out", since, "--public-key", pub, "--from", from); r.code != 0 ||
				!strings.Contains(r.stderr, "4 inclusion proofs") {
				t.Fatalf("export --from: exit %d, stderr %q", r.code, r.stderr)
			}
			if r := runBin(t, nil, "verify", "--bundle", since, "--public-key", pub); r.code != 0 {
				t.Fatalf("verify --bundle of the filtered export: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}

			r = runBin(t, nil, "verify", "--store", storeURL, "--public-key", pub, "--fix", "--signing-key", priv)
			noPassword("verify --fix", r)
			if _, fixes := store.(sealUnsealer); fixes {
				if r.code != 0 || !strings.Contains(r.stdout, "fix: sealed nothing: no event without a seal is older than integrity") {
					t.Fatalf("verify --fix on %s: exit %d, stdout %q, stderr %q", sc.name, r.code, r.stdout, r.stderr)
				}
			} else if r.code != 2 || !strings.Contains(r.stderr, "--fix: --store "+sc.name+"://") ||
				!strings.Contains(r.stderr, "cannot seal the events written before integrity was on (sqlite") {
				t.Fatalf("verify --fix on %s: exit %d, stderr %q; want it refused", sc.name, r.code, r.stderr)
			}

			tamper := tamperers[sc.name]
			if tamper == nil {
				t.Fatalf("no tamperer for %s: add one to tamperers", sc.name)
			}
			victim := events[2]
			tamper(t, storeURL, victim)
			r = runBin(t, nil, "verify", "--store", storeURL, "--public-key", pub)
			noPassword("verify after the edit", r)
			if r.code != 1 || !strings.Contains(r.stdout, "modified") || !strings.Contains(r.stdout, victim.ID.String()) || strings.Contains(r.stdout, "\nOK") {
				t.Fatalf("verify after the edit: exit %d, stdout %q, stderr %q; want exit 1 naming %s modified", r.code, r.stdout, r.stderr, victim.ID)
			}
		})
	}
}

// verify and export refuse a store that keeps no seals, naming its
// scheme and never its password, without dialling it; and a store URL
// that is no store.
func TestVerifyStoreRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "b.ndjson.gz")
	key := filepath.Join(dir, "k.key") // --fix loads its key before it opens the store
	if _, err := integrity.GenerateKeyFiles(key, filepath.Join(dir, "k.pub")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"verify clickhouse", nil, []string{"verify", "--store", "clickhouse://127.0.0.1:1/x"},
			"--store clickhouse://127.0.0.1:1/x: this store keeps no integrity seals; seal into sqlite"},
		{"verify mongodb, password hidden", nil, []string{"verify", "--store", "mongodb://u:hunter2@127.0.0.1:1/x?authSource=admin"},
			"--store mongodb://u:xxxxx@127.0.0.1:1/x?REDACTED: this store keeps no integrity seals"},
		{"verify clickhouse from the environment", []string{"ACTIVITYLOG_STORE=clickhouse://u:hunter2@127.0.0.1:1/x"}, []string{"verify"},
			"--store clickhouse://u:xxxxx@127.0.0.1:1/x: this store keeps no integrity seals"},
		{"export clickhouse", nil, []string{"export", "--with-proofs", "--out", out, "--store", "clickhouse://127.0.0.1:1/x"},
			"--store clickhouse://127.0.0.1:1/x: this store keeps no integrity seals"},
		{"export mongodb+srv", nil, []string{"export", "--with-proofs", "--out", out, "--store", "mongodb+srv://u:hunter2@cluster.example/x"},
			"--store mongodb+srv://u:xxxxx@cluster.example/x: this store keeps no integrity seals"},
		{"verify --fix clickhouse", nil, []string{"verify", "--store", "clickhouse://127.0.0.1:1/x", "--fix", "--signing-key", key},
			"this store keeps no integrity seals"},
		{"unknown scheme", nil, []string{"verify", "--store", "redis://u:hunter2@127.0.0.1:1/0"}, "must be one of"},
		{"not a URL", nil, []string{"verify", "--store", "127.0.0.1:5432"}, "must be a URL such as postgres://"},
		{"sqlite file missing", nil, []string{"verify", "--store", "sqlite://" + filepath.Join(dir, "none.db")}, "--store \"" + filepath.Join(dir, "none.db")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runBin(t, tc.env, tc.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) || strings.Contains(r.stdout+r.stderr, "hunter2") {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2 and %q", r.code, r.stdout, r.stderr, tc.want)
			}
		})
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("a refused export left %s behind: %v", out, err)
	}
}

// sealedCase seals 10 events into a fresh store of the store case named
// name (skipped, naming its variable, when its server is not set), and
// returns the store's URL and the public key file of its checkpoints.
func sealedCase(t *testing.T, name string) (storeURL, pub string) {
	t.Helper()
	var open func(*testing.T, string) activitylog.Store
	for _, c := range storeCases {
		if c.name == name {
			storeURL, open = c.url(t), c.open
		}
	}
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "k.key"), filepath.Join(dir, "k.pub")
	if _, err := integrity.GenerateKeyFiles(priv, pub); err != nil {
		t.Fatal(err)
	}
	s := open(t, storeURL)
	sealInto(t, s.(integrity.SealStore), priv, 10)
	s.Close()
	return storeURL, pub
}

// readsAsAuditor runs verify --store and export --with-proofs --store
// against the trail of sealedCase at url (an auditor's account), and
// checks both: 10 of 10 verified, and the export verifies offline.
func readsAsAuditor(t *testing.T, url, pub string) {
	t.Helper()
	r := runBin(t, nil, "verify", "--store", url, "--public-key", pub)
	if r.code != 0 || !strings.Contains(r.stdout, "events 10, verified 10, unsealed 0") || !strings.HasSuffix(r.stdout, "\nOK\n") {
		t.Fatalf("verify --store as the auditor: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	out := filepath.Join(t.TempDir(), "custom.bundle")
	if r := runBin(t, nil, "export", "--with-proofs", "--store", url, "--out", out, "--kind", "custom", "--public-key", pub); r.code != 0 {
		t.Fatalf("export --store as the auditor: %+v", r)
	}
	if r := runBin(t, nil, "verify", "--bundle", out, "--public-key", pub); r.code != 0 || !strings.Contains(r.stdout, "events 10, verified 10") {
		t.Fatalf("verify --bundle of the auditor's export: %+v", r)
	}
}
