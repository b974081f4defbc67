package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/integrity/integrityhttp"
	"github.com/activitylog/activitylog/internal/config"
	"github.com/activitylog/activitylog/mysql"
	"github.com/activitylog/activitylog/postgres"
	"github.com/activitylog/activitylog/sqlite"
)

// Sealing in serve (docs/integrity.md, "Sealing in activitylog serve").
//
// When integrity is on, the Recorder writes through a sealer: an
// integrity.Writer over the store that appends to one chain, continued
// across restarts from its stored tail. The chain is integrity_chain,
// or "serve-" and the host name; should its stored tail be torn, the
// sealer logs it and goes on with the chain's next generation (ID:2,
// ID:3, …), leaving the torn chain as evidence for activitylog verify.
// A restart continues the newest generation.

// maxRotations bounds how many new generations one call tries before
// it gives up: each is new, so a second torn one means something else
// is wrong.
const maxRotations = 3

// sealStore is a store serve can seal into: the integrity API's reads
// (integrityhttp.Store), the Writer's WriteSealed, the newest
// checkpoint a witness catches up from, and the purge of unsealed
// events. *sqlite.Store, *postgres.Store and *mysql.Store are; their
// Prune, whose options differ by type, is reached through pruneSealed.
type sealStore interface {
	integrityhttp.Store
	integrity.SealStore
	LastCheckpoint(ctx context.Context, chain string) (integrity.Checkpoint, bool, error)
	Purge(ctx context.Context, r activitylog.PurgeRequest) (activitylog.PurgeResult, error)
}

var (
	_ sealStore = (*sqlite.Store)(nil)
	_ sealStore = (*postgres.Store)(nil)
	_ sealStore = (*mysql.Store)(nil)
)

// pruneRequest is what the sealer's purge asks of the store's Prune:
// the options the sqlite, postgres and mysql stores share.
type pruneRequest struct {
	before        time.Time
	signingKey    ed25519.PrivateKey
	policy, actor string
	chains        []string
	hmacKeys      []*integrity.HMACKey
}

// pruneSealed runs the Prune of store (sqlite.Store.Prune,
// postgres.Store.Prune or mysql.Store.Prune) and returns how many
// events it deleted and how many chains it stored a pruning record for.
func pruneSealed(ctx context.Context, store sealStore, r pruneRequest) (deleted int64, records int, err error) {
	switch st := store.(type) {
	case *sqlite.Store:
		pr, err := st.Prune(ctx, sqlite.PruneOptions{Before: r.before, SigningKey: r.signingKey, Policy: r.policy, Actor: r.actor, Chains: r.chains, HMACKeys: r.hmacKeys})
		for _, c := range pr.Chains {
			if c.Record != nil {
				records++
			}
		}
		return pr.Deleted, records, err
	case *postgres.Store:
		pr, err := st.Prune(ctx, postgres.PruneOptions{Before: r.before, SigningKey: r.signingKey, Policy: r.policy, Actor: r.actor, Chains: r.chains, HMACKeys: r.hmacKeys})
		for _, c := range pr.Chains {
			if c.Record != nil {
				records++
			}
		}
		return pr.Deleted, records, err
	case *mysql.Store:
		pr, err := st.Prune(ctx, mysql.PruneOptions{Before: r.before, SigningKey: r.signingKey, Policy: r.policy, Actor: r.actor, Chains: r.chains, HMACKeys: r.hmacKeys})
		for _, c := range pr.Chains {
			if c.Record != nil {
				records++
			}
		}
		return pr.Deleted, records, err
	default:
		return 0, 0, fmt.Errorf("prune: the store %T cannot prune sealed chains", store)
	}
}

// sealer is the activitylog.Writer serve records through when sealing
// is on. It is safe for concurrent use.
type sealer struct {
	store   sealStore
	opts    integrity.WriterOptions // Chain set per generation
	base    string                  // the chain's first generation's id
	log     *slog.Logger
	witness *guardedWitness // nil without a witness
	closeW  func() error    // closes a file witness
	// witnessFile is the file witness's path, "" for none or a URL.
	witnessFile string
	// witnessToken is the URL witness's bearer token, read once.
	witnessToken string

	mu  sync.Mutex
	w   *integrity.Writer
	gen int // 1 for base, n for base:n

	// catchUp is the store's newest checkpoint of the chain when serve
	// started. The Writer hands the witness only the checkpoints it
	// makes, and keeps those it could not hand over in memory, so a
	// stop while the witness was away would leave the witness behind
	// for good; this one, whose tree covers every event before it, is
	// handed over until the witness has it or a later one.
	catchUp *integrity.Checkpoint
}

var _ activitylog.Writer = (*sealer)(nil)

// defaultChain is the chain serve appends to when integrity_chain is
// not set: "serve-" and the host name, each character that a chain id
// cannot hold replaced by '-'.
func defaultChain() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "serve"
	}
	return "serve-" + sanitizeChain(h)
}

// sanitizeChain maps s onto what integrity.ValidateChainID accepts, at
// most 100 bytes, so that generations (":12") still fit in 128.
func sanitizeChain(s string) string {
	b := []byte(s)
	if len(b) > 100 {
		b = b[:100]
	}
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '-'
		}
	}
	return string(b)
}

// generationID returns the id of generation gen of base.
func generationID(base string, gen int) string {
	if gen <= 1 {
		return base
	}
	return base + ":" + strconv.Itoa(gen)
}

// generationOf returns the generation of base that id is, or 0 when it
// is none.
func generationOf(base, id string) int {
	if id == base {
		return 1
	}
	rest, ok := strings.CutPrefix(id, base+":")
	if !ok || rest == "" || rest[0] == '0' {
		return 0
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 2 || strconv.Itoa(n) != rest {
		return 0
	}
	return n
}

// newSealAPI loads the keys and the witness's token that cfg names,
// for a sealer that serves the integrity API (apiOptions) and purges
// (purge) without writing: serve with nats_url, whose workers seal
// what they store. newSealer goes on from it to a sealer that writes.
func newSealAPI(cfg config.Config, store sealStore, log *slog.Logger) (*sealer, error) {
	s := &sealer{store: store, log: log}
	s.opts.CheckpointInterval = cfg.IntegrityCheckpointInterval
	// The files were checked when the configuration was loaded; they
	// are read again here, and a failure now is the setting's error.
	if cfg.IntegritySigningKey != "" {
		k, err := integrity.LoadPrivateKey(cfg.IntegritySigningKey)
		if err != nil {
			return nil, &config.Error{Key: "integrity_signing_key", Value: cfg.IntegritySigningKey, Reason: err.Error()}
		}
		s.opts.SigningKey = k
	}
	if cfg.IntegrityHMACKey != "" {
		k, err := integrity.LoadHMACKey(cfg.IntegrityHMACKey)
		if err != nil {
			return nil, &config.Error{Key: "integrity_hmac_key", Value: cfg.IntegrityHMACKey, Reason: err.Error()}
		}
		s.opts.HMACKey = k
	}
	if cfg.WitnessIsURL() {
		token, err := cfg.WitnessToken()
		if err != nil {
			return nil, err
		}
		s.witnessToken = token
	}
	return s, nil
}

// newSealer loads the keys and the witness that cfg names and opens the
// newest generation of the chain cfg.IntegrityChain (or defaultChain)
// on store: it flushes it once, which reads and checks its stored tail
// (and anchors events a previous run left without a checkpoint), and
// moves on to a new generation when the tail is torn or was begun with
// another HMAC key. serve, the CLI and worker (worker_seal.go) seal
// through it, each process into a chain of its own.
func newSealer(ctx context.Context, cfg config.Config, store sealStore, log *slog.Logger) (s *sealer, err error) {
	if s, err = newSealAPI(cfg, store, log); err != nil {
		return nil, err
	}
	s.base = cfg.IntegrityChain
	if s.base == "" {
		s.base = defaultChain()
	}
	var pub ed25519.PublicKey
	if s.opts.SigningKey != nil {
		pub = s.opts.SigningKey.Public().(ed25519.PublicKey)
	}
	witnessName := "none"
	switch {
	case cfg.IntegrityWitness == "":
	case cfg.WitnessIsURL():
		w, err := integrity.NewURLWitness(cfg.IntegrityWitness, &integrity.URLWitnessOptions{Token: s.witnessToken})
		if err != nil {
			return nil, &config.Error{Key: "integrity_witness", Value: cfg.IntegrityWitness, Reason: err.Error()}
		}
		witnessName = w.String()
		s.witness = newGuardedWitness(w, witnessName, log)
	default:
		w, err := integrity.OpenFileWitness(cfg.IntegrityWitness)
		if err != nil {
			return nil, &config.Error{Key: "integrity_witness", Value: cfg.IntegrityWitness, Reason: err.Error()}
		}
		witnessName, s.closeW, s.witnessFile = cfg.IntegrityWitness, w.Close, cfg.IntegrityWitness
		s.witness = newGuardedWitness(w, witnessName, log)
	}
	if s.witness != nil {
		s.opts.Witness = s.witness
	}
	defer func() {
		if err != nil && s.closeW != nil {
			s.closeW()
		}
	}()

	chains, err := store.Chains(ctx)
	if err != nil {
		return nil, fmt.Errorf("integrity: list chains: %w", err)
	}
	s.gen = 1
	for _, c := range chains {
		s.gen = max(s.gen, generationOf(s.base, c.ID))
	}
	if s.w, err = s.writer(s.gen); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, cfg.WriteTimeout)
	defer cancel()
	if err := s.do(wctx, func(w *integrity.Writer) error { return w.Flush(wctx) }); err != nil {
		return nil, fmt.Errorf("integrity: open chain %s: %w", s.chain(), err)
	}

	if s.witness != nil {
		cp, ok, err := store.LastCheckpoint(wctx, s.chain())
		if err != nil {
			return nil, fmt.Errorf("integrity: open chain %s: %w", s.chain(), err)
		}
		// A file witness shows what it holds at its end: skip the
		// hand-over when it already has this checkpoint or a later one.
		if ok && !(s.witnessFile != "" && fileWitnessHas(s.witnessFile, cp)) {
			s.catchUp = &cp
			s.witnessCatchUp(wctx)
		}
	}

	hmacID, signID := "none", "none: chains without checkpoints"
	if s.opts.HMACKey != nil {
		hmacID = s.opts.HMACKey.ID()
	}
	if pub != nil {
		signID = integrity.KeyID(pub)
	}
	log.Info("integrity: sealing every stored event", "chain", s.chain(), "signing_key_id", signID, "hmac_key_id", hmacID,
		"witness", witnessName, "checkpoint_interval", cfg.IntegrityCheckpointInterval.String())
	if pub == nil {
		log.Warn("integrity: no integrity_signing_key, so no signed checkpoints: an edit shows, the deletion of the newest events does not")
	}
	return s, nil
}

// writer returns a Writer on generation gen.
func (s *sealer) writer(gen int) (*integrity.Writer, error) {
	o := s.opts
	o.Chain = generationID(s.base, gen)
	w, err := integrity.NewWriter(s.store, &o)
	if err != nil {
		return nil, fmt.Errorf("integrity: %w", err)
	}
	return w, nil
}

// chain returns the id of the chain being written.
func (s *sealer) chain() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return generationID(s.base, s.gen)
}

// Write seals and stores events; see do.
func (s *sealer) Write(ctx context.Context, events []activitylog.Event) error {
	return s.do(ctx, func(w *integrity.Writer) error { return w.Write(ctx, events) })
}

// Flush stores a checkpoint of the events not yet covered and gives the
// witness what it lacks; see do.
func (s *sealer) Flush(ctx context.Context) error {
	err := s.do(ctx, func(w *integrity.Writer) error { return w.Flush(ctx) })
	if s.witness != nil {
		s.witnessCatchUp(ctx)
	}
	return err
}

// do runs op on the current Writer. When the chain turns out torn (or,
// before anything is written, begun with another HMAC key), it moves
// to a new generation and runs op again there, so that auditing goes
// on. A witness's failure is not op's: the events are stored, the
// guardedWitness has logged it, and the Writer hands the checkpoint
// over again later; returning it would have the Recorder retry the
// batch, and hold up every batch behind it, for as long as the witness
// is away.
func (s *sealer) do(ctx context.Context, op func(*integrity.Writer) error) error {
	for range maxRotations + 1 {
		s.mu.Lock()
		w := s.w
		s.mu.Unlock()
		err := op(w)
		var we *witnessError
		switch {
		case err == nil || errors.As(err, &we):
			return nil
		case errors.Is(err, integrity.ErrTornChain), keyMismatch(err):
			if rerr := s.rotate(w, err); rerr != nil {
				return errors.Join(err, rerr)
			}
		default:
			return err
		}
	}
	return fmt.Errorf("integrity: %d new chains in a row were refused; chain %s", maxRotations, s.chain())
}

// keyMismatch reports whether err is the store's refusal of a chain
// begun with another HMAC key (or with none).
func keyMismatch(err error) bool {
	var fe *activitylog.FieldError
	return errors.As(err, &fe) && fe.Field == "hmac key"
}

// rotate moves from w's chain to the next generation, unless another
// call has already moved on from w.
func (s *sealer) rotate(w *integrity.Writer, cause error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w != w {
		return nil
	}
	old := generationID(s.base, s.gen)
	nw, err := s.writer(s.gen + 1)
	if err != nil {
		return err
	}
	s.w, s.gen = nw, s.gen+1
	if keyMismatch(cause) {
		s.log.Warn("integrity: the chain was begun with another HMAC key (a chain keeps the key it began with); continuing on a new chain",
			"chain", old, "new_chain", nw.Chain().ID, "err", cause)
	} else {
		s.log.Error("integrity: the chain's stored tail is torn (a write cut short, or an edit); "+
			"it stays as it is, as evidence for activitylog verify, and sealing goes on in a new chain",
			"chain", old, "new_chain", nw.Chain().ID, "err", cause)
	}
	return nil
}

// Close stores a last checkpoint of what is not yet covered, gives the
// witness every checkpoint it lacks (one more try, whatever the
// backoff), and closes a witness file. Call it after the Recorder has
// drained and before the store closes.
func (s *sealer) Close(ctx context.Context) error {
	if s.witness != nil {
		s.witness.retryNow()
	}
	err := s.Flush(ctx)
	if err != nil {
		err = fmt.Errorf("integrity: last checkpoint of chain %s: %w", s.chain(), err)
	}
	if s.witness != nil && s.witness.failing() {
		s.log.Error("integrity: the witness lacks the newest checkpoints; they are stored in the database", "witness", s.witness.name)
	}
	if s.closeW != nil {
		err = errors.Join(err, s.closeW())
	}
	return err
}

// fileWitnessHas reports whether the last 64 KiB of the witness file
// hold a checkpoint of cp's chain up to cp.ToSeq or beyond. A file that
// cannot be read, or a tail that does not parse, says no: handing over
// a checkpoint the witness already has costs a line, missing one
// leaves the witness behind.
func fileWitnessHas(path string, cp integrity.Checkpoint) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	const tail = 64 << 10
	st, err := f.Stat()
	if err != nil {
		return false
	}
	off := max(st.Size()-tail, 0)
	b := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil {
		return false
	}
	if off > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return false
		}
		b = b[i+1:]
	}
	cps, err := integrity.ReadWitness(bytes.NewReader(b))
	if err != nil {
		return false
	}
	for _, c := range cps {
		if c.Chain == cp.Chain && c.ToSeq >= cp.ToSeq {
			return true
		}
	}
	return false
}

// witnessCatchUp hands the witness the checkpoint of catchUp unless it
// already has that one or a later one of the chain. A failure is the
// guardedWitness's to log; the next flush tries again.
func (s *sealer) witnessCatchUp(ctx context.Context) {
	s.mu.Lock()
	cp := s.catchUp
	s.mu.Unlock()
	if cp == nil || s.witness.has(cp.Chain, cp.ToSeq) {
		return
	}
	if s.witness.Write(ctx, *cp) == nil {
		s.mu.Lock()
		s.catchUp = nil
		s.mu.Unlock()
	}
}

// runFlusher flushes s every interval until ctx ends, so that an idle
// trail still gets its last events anchored and a witness that was
// away gets what it lacks.
func (s *sealer) runFlusher(ctx context.Context, interval, timeout time.Duration) {
	if interval <= 0 {
		return // a checkpoint with every batch
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fctx, cancel := context.WithTimeout(ctx, timeout)
			err := s.Flush(fctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				s.log.Error("integrity: store checkpoint", "chain", s.chain(), "err", err)
			}
		}
	}
}

// witnessError marks a witness's failure, which the integrity.Writer
// wraps in its own error after the events are stored.
type witnessError struct{ err error }

func (e *witnessError) Error() string { return e.err.Error() }
func (e *witnessError) Unwrap() error { return e.err }

// Backoff of a failing witness.
const (
	witnessRetryMin = time.Second
	witnessRetryMax = time.Minute
	witnessLogEvery = time.Minute
)

// guardedWitness wraps a witness: it marks its errors (witnessError),
// logs when it starts failing, at most once a minute while it fails,
// and when it is back, and, while it fails, lets writes through only
// after a backoff, so that a witness that hangs until its timeout does
// not slow every batch.
type guardedWitness struct {
	w    integrity.Witness
	name string
	log  *slog.Logger
	now  func() time.Time

	mu        sync.Mutex
	delivered map[string]uint64 // per chain, the highest to_seq the witness took
	failures  int               // since the last success
	next      time.Time         // no try before this while failing
	delay     time.Duration
	logged    time.Time // when the failure was last logged
}

func newGuardedWitness(w integrity.Witness, name string, log *slog.Logger) *guardedWitness {
	return &guardedWitness{w: w, name: name, log: log, now: time.Now}
}

var errBackingOff = errors.New("the witness failed a moment ago; waiting before the next try")

func (g *guardedWitness) Write(ctx context.Context, cp integrity.Checkpoint) error {
	g.mu.Lock()
	if g.failures > 0 && g.now().Before(g.next) {
		g.mu.Unlock()
		return &witnessError{fmt.Errorf("%w: %w", activitylog.ErrUnavailable, errBackingOff)}
	}
	g.mu.Unlock()
	err := g.w.Write(ctx, cp)
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if err == nil {
		if g.delivered == nil {
			g.delivered = map[string]uint64{}
		}
		g.delivered[cp.Chain] = max(g.delivered[cp.Chain], cp.ToSeq)
		if g.failures > 0 {
			g.log.Info("integrity: the witness takes checkpoints again", "witness", g.name, "failures", g.failures)
		}
		g.failures, g.delay = 0, 0
		return nil
	}
	g.failures++
	g.delay = min(max(2*g.delay, witnessRetryMin), witnessRetryMax)
	g.next = now.Add(g.delay)
	if g.failures == 1 || now.Sub(g.logged) >= witnessLogEvery {
		g.logged = now
		g.log.Error("integrity: the witness did not take a checkpoint; the events are stored, and checkpoints are handed over again until it does",
			"witness", g.name, "failures", g.failures, "chain", cp.Chain, "to_seq", cp.ToSeq, "err", err)
	}
	return &witnessError{err}
}

// has reports whether the witness took a checkpoint of chain up to toSeq
// or beyond since serve started.
func (g *guardedWitness) has(chain string, toSeq uint64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.delivered[chain] >= toSeq
}

// retryNow lets the next Write through, whatever the backoff.
func (g *guardedWitness) retryNow() {
	g.mu.Lock()
	g.next = time.Time{}
	g.mu.Unlock()
}

// failing reports whether the last try failed.
func (g *guardedWitness) failing() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.failures > 0
}

// apiOptions are the options of the integrity API (integrityhttp) that
// serve mounts beside the others when sealing is on: the signing key's
// public half is trusted, the HMAC key checks keyed chains, and each
// verification reads the witness again.
func (s *sealer) apiOptions(cfg config.Config, log *slog.Logger) *integrityhttp.Options {
	o := &integrityhttp.Options{Logger: log}
	if s.opts.SigningKey != nil {
		o.PublicKeys = []ed25519.PublicKey{s.opts.SigningKey.Public().(ed25519.PublicKey)}
	}
	if s.opts.HMACKey != nil {
		o.HMACKeys = []*integrity.HMACKey{s.opts.HMACKey}
	}
	switch {
	case cfg.IntegrityWitness == "":
	case cfg.WitnessIsURL():
		url, token := cfg.IntegrityWitness, s.witnessToken
		o.Witness = func(ctx context.Context) ([]integrity.Checkpoint, error) {
			return integrity.ReadWitnessURL(ctx, url, token)
		}
	default:
		path := cfg.IntegrityWitness
		o.Witness = func(context.Context) ([]integrity.Checkpoint, error) { return integrity.ReadWitnessFile(path) }
	}
	return o
}

// purge is POST /api/v1/events/purge with sealing on: the store deletes
// the unsealed events, and, when the purge takes every kind of every
// tenant and the sealer holds the signing key, the sealed chains are cut
// too, each at its newest checkpoint signed before the purge, under a
// signed pruning record (the store's Prune: pruneSealed) whose policy is the purge
// and whose actor is the principal: those records, never deleted, are
// then the lasting evidence of the purge, since the chain's prefix takes
// the purge's own events with it at the next purge. A purge of some
// kinds or of one tenant keeps the sealed events: a chain can only lose
// a prefix.
func (s *sealer) purge(ctx context.Context, r activitylog.PurgeRequest) (activitylog.PurgeResult, error) {
	res, err := s.store.Purge(ctx, r)
	// A chain interleaves every kind and tenant: it is cut only by a
	// purge of all of them (Kinds empty, or naming every kind, as the
	// retention runs and the CLI's purge --all do).
	if err != nil || s.opts.SigningKey == nil || !everyKind(r.Kinds) || !r.AllTenants {
		return res, err
	}
	actor := "api"
	if p := activitylog.PrincipalFrom(ctx); p != nil && p.ID != "" {
		actor = p.ID
	}
	// Every chain by name, so that Prune leaves the unsealed events to
	// the store's purge (which keeps the records of purges).
	chains, err := s.store.Chains(ctx)
	if err != nil || len(chains) == 0 {
		return res, err
	}
	o := pruneRequest{before: r.Before, signingKey: s.opts.SigningKey, policy: "purge all", actor: actor}
	for _, c := range chains {
		o.chains = append(o.chains, c.ID)
	}
	if s.opts.HMACKey != nil {
		o.hmacKeys = []*integrity.HMACKey{s.opts.HMACKey}
	}
	res.Pruned, res.PrunedChains, err = pruneSealed(ctx, s.store, o)
	res.KeptSealed = max(res.KeptSealed-res.Pruned, 0)
	if err != nil {
		return res, fmt.Errorf("prune the sealed chains: %w", err)
	}
	return res, nil
}

// everyKind reports whether kinds selects every kind: none named, or
// each of activitylog.Kinds.
func everyKind(kinds []activitylog.Kind) bool {
	for _, k := range activitylog.Kinds {
		if len(kinds) > 0 && !slices.Contains(kinds, k) {
			return false
		}
	}
	return true
}

// refuseUnsealed refuses, unless integrity_allow_unsealed is set, to let
// a command with sealing off store events in a store that holds sealed
// chains: each event it stored would lack a seal, and verify would
// report it as missing_hash. what is the command's name ("serve",
// "cleanup"), which says which settings it takes as flags; another
// text ("this command") gets the advice of a command without the
// integrity flags.
func refuseUnsealed(ctx context.Context, cfg config.Config, store any, what string) error {
	chains, err := unsealedOnSealed(ctx, cfg, store)
	if err != nil || len(chains) == 0 {
		return err
	}
	return fmt.Errorf("integrity: the store %s holds %d sealed chains (%s first), and sealing is off: "+
		"every event %s stored would lack a seal, which verify reports as missing_hash. "+
		"Configure %s, or set %s to store unsealed events knowingly",
		storeName(cfg), len(chains), chains[0].ID, what, settingAdvice("integrity_signing_key", takesFlag("integrity_signing_key", what)),
		// Every command that refuses takes this one as a flag: its
		// setting lists them all.
		settingAdvice("integrity_allow_unsealed", true))
}

// unsealedOnSealed returns the sealed chains of store when a command
// with cfg would store unsealed events beside them (sealing off, and
// integrity_allow_unsealed not set); none otherwise, or for a store
// that keeps no chains.
func unsealedOnSealed(ctx context.Context, cfg config.Config, store any) ([]integrity.ChainInfo, error) {
	if cfg.Sealing() || cfg.IntegrityAllowUnsealed {
		return nil, nil
	}
	src, ok := store.(interface {
		Chains(ctx context.Context) ([]integrity.ChainInfo, error)
	})
	if !ok {
		return nil, nil
	}
	chains, err := src.Chains(ctx)
	if err != nil {
		return nil, fmt.Errorf("integrity: list chains: %w", err)
	}
	return chains, nil
}

// takesFlag reports whether command takes the setting key as a flag:
// users and api-keys, for one, take no --integrity-signing-key, and say
// "unknown flag" to it.
func takesFlag(key, command string) bool {
	return slices.Contains(config.Lookup(key).Commands, command)
}

// settingAdvice names the ways a command can be given the setting key:
// its flag where it takes one (flag), then the environment variable and
// the --config file's key, which every command reads.
func settingAdvice(key string, flag bool) string {
	s := config.Lookup(key)
	arg := ""
	if s.Arg != "" {
		arg = " " + s.Arg
	}
	env := s.Env + "=" + cmp.Or(s.Arg, "true")
	if flag {
		return fmt.Sprintf("%s (--%s%s, %s or the --config file)", key, s.Flag, arg, env)
	}
	return fmt.Sprintf("%s (%s in the environment, or %s in the --config file; this command has no --%s flag)", key, env, key, s.Flag)
}

// credentialsEnv is what to set in front of `activitylog api-keys …` or
// `activitylog users …` for it to run on the database serve keeps its
// credentials in (cfg.DB), as serve suggests it at startup: those
// commands refuse a database that holds sealed chains unless they seal
// too, and take the integrity settings from the environment only (or
// the file). dbSealed says the database holds sealed chains, or will
// (serve seals its events into it). "" when nothing is needed.
func credentialsEnv(cfg config.Config, dbSealed bool) string {
	if !dbSealed {
		return ""
	}
	env := func(key, value string) string { return config.Lookup(key).Env + "=" + shellWord(value) + " " }
	var b strings.Builder
	switch {
	case cfg.IntegritySigningKey != "":
		b.WriteString(env("integrity_signing_key", cfg.IntegritySigningKey))
	case cfg.Integrity:
		b.WriteString(env("integrity", "true"))
	default:
		// Serve does not seal (integrity_allow_unsealed, or nats_url
		// whose workers seal), but the credential commands would refuse.
		return config.Lookup("integrity_signing_key").Env + "=KEY_FILE "
	}
	if cfg.IntegrityHMACKey != "" {
		b.WriteString(env("integrity_hmac_key", cfg.IntegrityHMACKey))
	}
	if cfg.IntegrityChain != "" {
		b.WriteString(env("integrity_chain", cfg.IntegrityChain))
	}
	return b.String()
}

// credentialsSealed reports whether control, the database that keeps
// serve's credentials, holds sealed chains, or soon will: serve seals
// its events into it.
func credentialsSealed(ctx context.Context, cfg config.Config, control *sqlite.Store, events activitylog.Store) bool {
	if cfg.Sealing() && cfg.NATSURL == "" && events == activitylog.Store(control) {
		return true
	}
	chains, err := control.Chains(ctx)
	return err == nil && len(chains) > 0
}

// shellWord quotes s for a POSIX shell unless it needs no quoting.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@%+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
