package integrityhttp

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/server"
)

// Store is what the Service reads: a sealed trail. *sqlite.Store
// implements it. Its methods may be called from several goroutines at
// once; errors wrap activitylog.ErrNotFound (Get) or
// activitylog.ErrUnavailable where the store has them.
type Store interface {
	// The Verifier's Source: chains, entries, checkpoints, unsealed
	// events.
	integrity.Source
	// Get returns one stored event, as the API answers it.
	Get(ctx context.Context, id activitylog.ID) (activitylog.Event, error)
	// Hashes returns the event hashes of chain's seqs from..to, both
	// included, in seq order; an error, never a short slice, when a seq
	// of the range has no stored hash.
	Hashes(ctx context.Context, chain string, from, to uint64) ([]integrity.Hash, error)
	// Seals returns the stored seals of the events ids, by id; an
	// event without a full seal is not in the map.
	Seals(ctx context.Context, ids []activitylog.ID) (map[activitylog.ID]integrity.Seal, error)
}

// Options configures a Service. The zero value, or nil, means the
// defaults written beside each field.
type Options struct {
	// PublicKeys are the Ed25519 keys whose checkpoints are trusted:
	// GET /api/v1/integrity/public-key publishes them, in this order,
	// and the verifier, the proofs and the per-event status accept a
	// checkpoint only when one of them signed it. Put the key that
	// signs new checkpoints first, then older ones whose checkpoints
	// are still kept. Default: none, so no checkpoint is trusted.
	PublicKeys []ed25519.PublicKey
	// HMACKeys are the keys of keyed chains, found by their id. The
	// status of an event of a keyed chain whose key is not here is
	// unchecked. Default: none.
	HMACKeys []*integrity.HMACKey
	// Witness, when set, returns the checkpoints of the witness
	// (integrity.ReadWitnessFile), which GET /api/v1/integrity/verify
	// checks the store against; it is called once per verification.
	// Default: nil, no witness.
	Witness func(ctx context.Context) ([]integrity.Checkpoint, error)
	// MaxFindings is the max_findings of a verification that gives
	// none. Default: 1000.
	MaxFindings int
	// CheckpointRefresh is how long the per-event status trusts what
	// it read of a chain's checkpoints: an event beyond the newest
	// checkpoint it knows makes it read the chain's checkpoints again,
	// at most once per CheckpointRefresh. Default: 1s.
	CheckpointRefresh time.Duration
	// MaxProofs bounds the proofs (inclusion and consistency) built at
	// once; one more is answered 429. Default: 2.
	MaxProofs int
	// ProofCache configures the roots of perfect subtrees that the
	// proofs keep per chain (integrity.SubtreeCache), so that a proof
	// reads O(2^Shift + log n) event hashes instead of every hash up to
	// its checkpoint. Default: nil, integrity's defaults (blocks of 256
	// events, 256 chains, 16 MiB).
	ProofCache *integrity.SubtreeOptions
	// Audit, when set, records every download of
	// GET /api/v1/integrity/bundle as an event of kind export, after it
	// ends (an *activitylog.Recorder is one). Default: nil, not recorded.
	Audit server.Auditor
	// Now is the clock of CheckpointRefresh. Default: time.Now.
	Now func() time.Time
	// Logger receives internal errors, which clients never see.
	// Default: slog.Default().
	Logger *slog.Logger
}

// Defaults of Options.
const (
	DefaultMaxFindings       = 1000
	DefaultCheckpointRefresh = time.Second
	DefaultMaxProofs         = 2
	// MaxMaxFindings bounds the max_findings parameter.
	MaxMaxFindings = 100_000
)

// Service serves the integrity routes and annotates events with their
// seal status. It is safe for concurrent use.
type Service struct {
	store   Store
	pubs    map[string]ed25519.PublicKey
	pubList []ed25519.PublicKey
	keys    []publicKey // the answer of public-key, made once
	macs    map[string]*integrity.HMACKey
	hmacs   []*integrity.HMACKey
	witness func(ctx context.Context) ([]integrity.Checkpoint, error)
	maxFind int
	refresh time.Duration
	now     func() time.Time
	log     *slog.Logger
	proofs  chan struct{} // a token per proof being built
	exports chan struct{} // the token of the one bundle being written
	audit   server.Auditor
	trees   *integrity.SubtreeCache

	mu     sync.Mutex
	chains map[string]*chainState   // by chain id
	sigs   map[integrity.Hash]error // checkpoint hash → its Verify result (nil: trusted)

	vmu     sync.Mutex
	running *verifyRun    // the verification under way, or nil
	lastRun time.Duration // how long the last one took

	verifyRuns, verifyFailures, verifyFindings atomic.Uint64
}

var _ server.Annotator = (*Service)(nil)

// New returns a Service over store. store must not be nil.
func New(store Store, opts *Options) (*Service, error) {
	if store == nil {
		return nil, fmt.Errorf("integrityhttp: nil Store")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MaxFindings == 0 {
		o.MaxFindings = DefaultMaxFindings
	}
	if o.MaxFindings < 1 || o.MaxFindings > MaxMaxFindings {
		return nil, fmt.Errorf("integrityhttp: %w", activitylog.Invalid("MaxFindings", fmt.Sprint(o.MaxFindings), fmt.Sprintf("must be between 1 and %d", MaxMaxFindings)))
	}
	if o.CheckpointRefresh <= 0 {
		o.CheckpointRefresh = DefaultCheckpointRefresh
	}
	if o.MaxProofs <= 0 {
		o.MaxProofs = DefaultMaxProofs
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	trees, err := integrity.NewSubtreeCache(o.ProofCache)
	if err != nil {
		return nil, fmt.Errorf("integrityhttp: ProofCache: %w", err)
	}
	s := &Service{
		trees: trees,
		store: store, pubs: map[string]ed25519.PublicKey{}, macs: map[string]*integrity.HMACKey{},
		witness: o.Witness, maxFind: o.MaxFindings, refresh: o.CheckpointRefresh, now: o.Now, log: o.Logger,
		proofs: make(chan struct{}, o.MaxProofs), exports: make(chan struct{}, 1), audit: o.Audit,
		chains: map[string]*chainState{}, sigs: map[integrity.Hash]error{},
		keys: []publicKey{},
	}
	for i, p := range o.PublicKeys {
		if len(p) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("integrityhttp: %w", activitylog.Invalid(fmt.Sprintf("PublicKeys[%d]", i), fmt.Sprintf("%d bytes", len(p)), "is not an Ed25519 public key"))
		}
		id := integrity.KeyID(p)
		if _, dup := s.pubs[id]; dup {
			continue
		}
		pemBytes, err := integrity.MarshalPublicKey(p)
		if err != nil {
			return nil, fmt.Errorf("integrityhttp: %w", err)
		}
		s.pubs[id] = p
		s.pubList = append(s.pubList, p)
		s.keys = append(s.keys, publicKey{KeyID: id, Algorithm: "Ed25519", PEM: string(pemBytes)})
	}
	for i, k := range o.HMACKeys {
		if k == nil {
			return nil, fmt.Errorf("integrityhttp: %w", activitylog.Invalid(fmt.Sprintf("HMACKeys[%d]", i), "nil", "is not a key"))
		}
		s.macs[k.ID()] = k
		s.hmacs = append(s.hmacs, k)
	}
	return s, nil
}

// Routes returns the Service's routes, for server.Options.Routes:
//
//	GET /api/v1/integrity/public-key     Public: the trusted checkpoint keys
//	GET /api/v1/integrity/verify         view_all_logs, without a tenant: verify the trail
//	GET /api/v1/integrity/consistency    view_logs: a consistency proof between two checkpoints
//	GET /api/v1/events/{id}/proof        view_logs, and the event visible: an inclusion proof
//	GET /api/v1/integrity/bundle         view_all_logs, without a tenant: the offline bundle
//
// docs/api.md describes each; the Service's Annotate adds the per-event
// status to the list and detail answers (server.Options.Annotators).
func (s *Service) Routes() []server.Route {
	return []server.Route{
		{Pattern: "GET /api/v1/integrity/public-key", Need: server.Public, Handler: s.publicKey},
		{Pattern: "GET /api/v1/integrity/verify", Need: activitylog.ViewAllLogs, Handler: s.verify},
		{Pattern: "GET /api/v1/integrity/consistency", Need: activitylog.ViewLogs, Handler: s.consistency},
		{Pattern: "GET /api/v1/events/{id}/proof", Need: activitylog.ViewLogs, Handler: s.proof},
		{Pattern: "GET /api/v1/integrity/bundle", Need: activitylog.ViewAllLogs, Handler: s.bundle},
	}
}

// publicKey is one key of GET /api/v1/integrity/public-key.
type publicKey struct {
	KeyID     string `json:"key_id"`
	Algorithm string `json:"algorithm"`
	PEM       string `json:"pem"`
}

// publicKey handles GET /api/v1/integrity/public-key.
func (s *Service) publicKey(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r, "/api/v1/integrity/public-key"); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Keys []publicKey `json:"keys"`
	}{s.keys})
}

// trusted reports whether cp verifies with a trusted key, remembering
// the answer by the checkpoint's hash.
func (s *Service) trusted(cp *integrity.Checkpoint) error {
	h := cp.Hash()
	s.mu.Lock()
	err, ok := s.sigs[h]
	s.mu.Unlock()
	if ok {
		return err
	}
	if pub := s.pubs[cp.KeyID]; pub == nil {
		err = fmt.Errorf("checkpoint of chain %s to seq %d: signed by key %q, which is not trusted: %w", cp.Chain, cp.ToSeq, cp.KeyID, integrity.ErrBadSignature)
	} else {
		err = cp.Verify(pub)
	}
	s.mu.Lock()
	s.sigs[h] = err
	s.mu.Unlock()
	return err
}
