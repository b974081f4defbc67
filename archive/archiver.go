package archive

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
)

// Options configures an Archiver. The zero value, or a nil pointer,
// means the defaults.
type Options struct {
	// PublicKeys are the public keys of the keys that sign the store's
	// checkpoints. They go into each file of a sealed store, so that
	// `activitylog verify --bundle FILE --trust-bundle-keys` can check it
	// alone, and each file written is verified against them before
	// Archive reports it. Default: none; a sealed file still carries its
	// signed checkpoints and proofs, checked with the key given to
	// verify --bundle --public-key.
	PublicKeys []ed25519.PublicKey
	// Unsealed archives events from the Querier alone, without seals,
	// even when the store keeps seals. Default: false, seals and proofs
	// whenever the store is an integrity.BundleSource with chains.
	Unsealed bool
	// MaxParts bounds the files of one kind, day and tenant scope: a day
	// that several runs archive in parts (a cut-off inside the day, or a
	// run that failed after some files) gets names ending .2, .3, ….
	// Default: 1000.
	MaxParts int
	// Now is the clock of the files' creation time. Default: time.Now.
	Now func() time.Time
}

// Archiver writes a store's events to an Archive before they are
// deleted: one file per kind and UTC day (and tenant scope), each a
// gzip-compressed NDJSON offline bundle (integrity.BundleHeader) with,
// for a sealed store, the chains' signed checkpoints and an inclusion
// proof for each sealed event, and beside it a checksum file
// (SumSuffix). Each file is read back and checked before Archive
// reports it. docs/archive.md describes the format.
//
// An Archiver may be used from several goroutines, but two runs over
// the same events write each file twice (the second as a part .2).
type Archiver struct {
	a    Archive
	q    activitylog.Querier
	src  integrity.BundleSource // nil: unsealed
	keys []ed25519.PublicKey
	max  int
	now  func() time.Time
}

// New returns an Archiver of store's events into a. When store is also
// an integrity.BundleSource (sqlite.Store and postgres.Store are) and
// holds chains, the files carry seals and proofs.
func New(a Archive, store activitylog.Querier, opts *Options) (*Archiver, error) {
	if a == nil {
		return nil, errors.New("new archiver: no archive")
	}
	if store == nil {
		return nil, errors.New("new archiver: no store")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	ar := &Archiver{a: a, q: store, keys: o.PublicKeys, max: o.MaxParts, now: o.Now}
	if src, ok := store.(integrity.BundleSource); ok && !o.Unsealed {
		ar.src = src
	}
	if ar.max <= 0 {
		ar.max = 1000
	}
	if ar.now == nil {
		ar.now = time.Now
	}
	return ar, nil
}

// File is one archive file that Archive wrote and checked.
type File struct {
	Name string           `json:"name"`
	Kind activitylog.Kind `json:"kind"`
	// Day is the UTC day; From and To (exclusive) the time range the
	// file holds: the whole day, or up to the request's Before.
	Day  time.Time `json:"day"`
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Tenant and AllTenants are the request's tenant scope.
	Tenant     string `json:"tenant,omitempty"`
	AllTenants bool   `json:"all_tenants,omitempty"`
	// Events counts the events in the file, Sealed those of them with a
	// seal and an inclusion proof.
	Events int `json:"events"`
	Sealed int `json:"sealed"`
	// Released counts the events of the file's kind and day that are
	// not in it because a signed pruning record released them already:
	// at or below their chain's cut, left by a prune that stopped half
	// way, for the next purge to finish (their hashes are gone, so no
	// proof can be made for them).
	Released int   `json:"released,omitempty"`
	Bytes    int64 `json:"bytes"`
	// SHA256 is the hex SHA-256 of the file, as its checksum file says.
	SHA256 string `json:"sha256"`
}

// Result is what Archive wrote.
type Result struct {
	Files  []File                     `json:"files"`
	Events int64                      `json:"events"`
	ByKind map[activitylog.Kind]int64 `json:"by_kind"`
	// Released sums the files' Released: events left out because a
	// signed pruning record released them before this run.
	Released int64 `json:"released,omitempty"`
}

// Archive writes the events that r selects, as a purge with r would
// delete them (before r.Before, of r.Kinds or every kind, of r.Tenant
// or, with AllTenants, of every tenant; never the records of purges),
// and sealed events too, one file per kind and UTC day. It returns nil
// only when every file is stored, fsynced (Put's contract), read back,
// and matches its checksum and the store's count of its events: only
// then may the caller delete them. After an error the Result lists the
// files written before it; a new run writes them again, as parts.
//
// A file of a sealed store needs every selected sealed event covered
// by a signed checkpoint; otherwise Archive fails, naming the chain. A
// pruned chain's events are proven from its last cut (its pruning
// record); those at or below the cut are left out and counted as
// Released (see File).
func (ar *Archiver) Archive(ctx context.Context, r activitylog.PurgeRequest) (Result, error) {
	res := Result{ByKind: map[activitylog.Kind]int64{}}
	if err := r.Validate(); err != nil {
		return res, fmt.Errorf("archive: %w", err)
	}
	kinds := r.Kinds
	if len(kinds) == 0 {
		kinds = activitylog.Kinds
	}
	var chains []integrity.ChainInfo
	if ar.src != nil {
		var err error
		if chains, err = ar.src.Chains(ctx); err != nil {
			return res, fmt.Errorf("archive: read chains: %w", err)
		}
	}
	before := r.Before.UTC()
	for _, k := range kinds {
		cursor := time.Time{}
		for {
			f := scopeFilter(r)
			f.Kind, f.From, f.To, f.Ordering, f.PageSize = k, cursor, before, "time", 1
			p, err := ar.q.Query(ctx, f)
			if err != nil {
				return res, fmt.Errorf("archive: find the oldest %s event from %s: %w", k, cursor.Format(time.RFC3339), err)
			}
			if len(p.Events) == 0 {
				break
			}
			t := p.Events[0].Time.UTC()
			day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
			sel := selection{req: r, kind: k, day: day, from: day, to: day.AddDate(0, 0, 1)}
			if sel.to.After(before) {
				sel.to = before
			}
			want, err := ar.count(ctx, &sel)
			if err != nil {
				return res, err
			}
			if want > 0 {
				file, err := ar.writeFile(ctx, &sel, want, chains)
				if err != nil {
					return res, fmt.Errorf("archive %s events of %s: %w", k, day.Format(time.DateOnly), err)
				}
				res.Files = append(res.Files, file)
				res.Events += int64(file.Events)
				res.ByKind[k] += int64(file.Events)
				res.Released += int64(file.Released)
			}
			cursor = day.AddDate(0, 0, 1)
			if !cursor.Before(before) {
				break
			}
		}
	}
	return res, nil
}

// selection is one file's events.
type selection struct {
	req      activitylog.PurgeRequest
	kind     activitylog.Kind
	day      time.Time
	from, to time.Time
}

// scopeFilter is the filter of r's tenant scope.
func scopeFilter(r activitylog.PurgeRequest) activitylog.Filter {
	var f activitylog.Filter
	switch {
	case r.AllTenants:
	case r.Tenant == "":
		f.NoTenant = true
	default:
		f.Tenant = r.Tenant
	}
	return f
}

// match reports whether e is one of sel's events.
func (sel *selection) match(e *activitylog.Event) bool {
	if e.Kind != sel.kind || e.Time.Before(sel.from) || !e.Time.Before(sel.to) || retentionRecord(e) {
		return false
	}
	return sel.req.AllTenants || e.Tenant == sel.req.Tenant
}

// retentionRecord reports whether e records a purge, which a purge
// never deletes and so an archive leaves out.
func retentionRecord(e *activitylog.Event) bool {
	return e.Kind == activitylog.KindSystem && e.Category == activitylog.CategoryRetention
}

func (sel *selection) filter() activitylog.Filter {
	f := scopeFilter(sel.req)
	f.Kind, f.From, f.To = sel.kind, sel.from, sel.to
	return f
}

// count is the store's count of sel's events.
func (ar *Archiver) count(ctx context.Context, sel *selection) (int, error) {
	f := sel.filter()
	n, err := ar.q.Count(ctx, f)
	if err != nil {
		return 0, fmt.Errorf("archive: count %s events of %s: %w", sel.kind, sel.day.Format(time.DateOnly), err)
	}
	if sel.kind == activitylog.KindSystem {
		f.Category = activitylog.CategoryRetention
		m, err := ar.q.Count(ctx, f)
		if err != nil {
			return 0, fmt.Errorf("archive: count retention records of %s: %w", sel.day.Format(time.DateOnly), err)
		}
		n -= m
	}
	return int(n), nil
}

// FileName is the name of an archive file: KIND/YYYY/MM/DD/ then
// KIND-YYYY-MM-DD, the tenant scope (nothing for all tenants,
// ".tenant=NAME" with NAME's bytes other than ASCII letters, digits,
// _ and - escaped as %XX, or ".no-tenant" for the events without one),
// the part (nothing for the first, ".2", ".3", … after it), and
// ".ndjson.gz".
func FileName(kind activitylog.Kind, day time.Time, tenant string, allTenants bool, part int) string {
	d := day.UTC().Format(time.DateOnly)
	var b strings.Builder
	b.WriteString(string(kind) + "/" + strings.ReplaceAll(d, "-", "/") + "/" + string(kind) + "-" + d)
	switch {
	case allTenants:
	case tenant == "":
		b.WriteString(".no-tenant")
	default:
		b.WriteString(".tenant=")
		for i := 0; i < len(tenant); i++ {
			c := tenant[i]
			if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' {
				b.WriteByte(c)
			} else {
				fmt.Fprintf(&b, "%%%02X", c)
			}
		}
	}
	if part > 1 {
		b.WriteString("." + strconv.Itoa(part))
	}
	b.WriteString(".ndjson.gz")
	return b.String()
}

var errPutReturned = errors.New("archive: Put returned")

// counter counts and hashes what passes through it.
type counter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}

// writeFile writes sel's want events to the first free part name,
// then its checksum file, then reads both back and checks them.
func (ar *Archiver) writeFile(ctx context.Context, sel *selection, want int, chains []integrity.ChainInfo) (File, error) {
	file := File{Kind: sel.kind, Day: sel.day, From: sel.from, To: sel.to, Tenant: sel.req.Tenant, AllTenants: sel.req.AllTenants}
	if file.AllTenants {
		file.Tenant = ""
	}
	for part := 1; ; part++ {
		if part > ar.max {
			return file, fmt.Errorf("%d parts exist already (Options.MaxParts)", ar.max)
		}
		name := FileName(sel.kind, sel.day, sel.req.Tenant, sel.req.AllTenants, part)
		if rc, err := ar.a.Open(ctx, name); err == nil {
			rc.Close()
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return file, fmt.Errorf("look for %s: %w", name, err)
		}
		pr, pw := io.Pipe()
		c := &counter{w: pw, h: sha256.New()}
		type produced struct {
			events, sealed, released int
			err                      error
		}
		done := make(chan produced, 1)
		go func() {
			var p produced
			p.events, p.sealed, p.released, p.err = ar.produce(ctx, c, sel, want, chains)
			pw.CloseWithError(p.err)
			done <- p
		}()
		err := ar.a.Put(ctx, name, pr)
		pr.CloseWithError(errPutReturned) // unblock the producer if Put stopped reading
		p := <-done
		switch {
		case errors.Is(err, fs.ErrExist):
			continue // another writer took the name
		case err != nil && p.err != nil && !errors.Is(p.err, errPutReturned):
			return file, p.err
		case err != nil:
			return file, err
		case p.err != nil:
			return file, fmt.Errorf("put %s returned before reading the whole file: %w", name, p.err)
		}
		sum := c.h.Sum(nil)
		file.Name, file.Events, file.Sealed, file.Released, file.Bytes, file.SHA256 = name, p.events, p.sealed, p.released, c.n, fmt.Sprintf("%x", sum)
		if err := ar.a.Put(ctx, name+SumSuffix, strings.NewReader(string(sumLine(name, sum)))); err != nil {
			return file, fmt.Errorf("write the checksum of %s: %w", name, err)
		}
		if err := ar.check(ctx, &file); err != nil {
			return file, err
		}
		return file, nil
	}
}

// produce writes sel's file to w: a bundle of its events, with seals
// and proofs when chains hold any. It fails, so that Put stores
// nothing, unless it wrote want events, or left out as released (see
// File) those it did not write.
func (ar *Archiver) produce(ctx context.Context, w io.Writer, sel *selection, want int, chains []integrity.ChainInfo) (events, sealed, released int, err error) {
	h := integrity.BundleHeader{
		Created: ar.now().UTC().Format(time.RFC3339Nano),
		Filters: integrity.BundleFilters{
			Kinds: []string{string(sel.kind)},
			From:  sel.from.Format(time.RFC3339Nano),
			To:    sel.to.Format(time.RFC3339Nano),
		},
	}
	bw, err := integrity.NewBundleWriter(w, h)
	if err != nil {
		return 0, 0, 0, err
	}
	if len(chains) > 0 {
		for _, k := range ar.keys {
			if err := bw.Key(k); err != nil {
				return 0, 0, 0, err
			}
		}
		events, sealed, released, err = ar.exportSealed(ctx, bw, sel, chains)
	} else {
		events, err = ar.exportUnsealed(ctx, bw, sel)
	}
	if err != nil {
		return events, sealed, released, err
	}
	if events+released != want {
		held := fmt.Sprintf("%d events", events)
		if released > 0 {
			held += fmt.Sprintf(" (and %d were released by a pruning record)", released)
		}
		return events, sealed, released, fmt.Errorf("the file would hold %s, the store counts %d: events were written or deleted meanwhile; run again", held, want)
	}
	return events, sealed, released, bw.Close()
}

// exportUnsealed writes sel's events as the Querier gives them.
func (ar *Archiver) exportUnsealed(ctx context.Context, bw *integrity.BundleWriter, sel *selection) (int, error) {
	f := sel.filter()
	f.Ordering, f.PageSize = "time", activitylog.MaxPageSize
	n := 0
	for {
		p, err := ar.q.Query(ctx, f)
		if err != nil {
			return n, fmt.Errorf("read events: %w", err)
		}
		for i := range p.Events {
			e := &p.Events[i]
			if retentionRecord(e) {
				continue
			}
			if err := bw.Event(e, nil, nil, nil); err != nil {
				return n, err
			}
			n++
		}
		if p.Next == "" {
			return n, nil
		}
		f.Cursor = p.Next
	}
}
