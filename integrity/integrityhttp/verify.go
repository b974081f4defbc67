package integrityhttp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
)

// witnessReadTimeout bounds the read of the witness that a
// verification starts with, so that a witness that never answers
// cannot hold the one verification that runs at a time.
const witnessReadTimeout = 30 * time.Second

// verifyParams are the parameters of GET /api/v1/integrity/verify.
var verifyParams = []string{"chain", "kind", "from", "to", "max_findings"}

// verifyRun is a verification under way, which callers asking for the
// same one wait for and share.
type verifyRun struct {
	key     string // the normalized parameters
	done    chan struct{}
	rep     *integrity.Report
	err     error
	waiters int // callers still waiting; the last to leave cancels it
	cancel  context.CancelFunc
	stopped bool // cancelled: nobody waits for it any more
}

// verifyAnswer is the body of GET /api/v1/integrity/verify.
type verifyAnswer struct {
	OK bool `json:"ok"`
	*integrity.Report
}

// verify handles GET /api/v1/integrity/verify: the Verifier's report of
// the whole stored trail (or of the chains, kinds and times asked for).
// It needs a principal that may read across the trail: a superuser, or
// view_all_logs without a tenant. One verification runs at a time; a
// request with the same parameters waits for the one under way and
// gets its report, one with others gets 429. A chain that neither the
// store nor the witness holds is a 400 naming chain, as for the bundle:
// a mistyped id must not read as a trail verified ok.
func (s *Service) verify(w http.ResponseWriter, r *http.Request) {
	if !wholeTrail(w, r, "verification") {
		return
	}
	opts, key, err := s.verifyOptions(r)
	if err == nil && s.witness == nil {
		// Without a witness the store alone says which chains exist:
		// an unknown one is refused before any verification, busy or not.
		err = s.knownChains(r.Context(), opts.Chains, nil)
	}
	if err != nil {
		s.fail(w, r, chainParam(r, err))
		return
	}
	run, err := s.joinVerify(opts, key)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	select {
	case <-run.done:
	case <-r.Context().Done():
		s.leaveVerify(run)
		s.fail(w, r, r.Context().Err())
		return
	}
	if run.err != nil {
		s.fail(w, r, chainParam(r, run.err))
		return
	}
	writeJSON(w, http.StatusOK, verifyAnswer{OK: run.rep.OK(), Report: run.rep})
}

// unknownChain is a chain that a verification names but that neither
// the store nor the witness holds: the verifier would report it as an
// empty chain with no finding, and answer ok for a chain id that was
// mistyped, having verified nothing.
type unknownChain struct {
	id      string
	witness bool // a witness was read, and holds no checkpoint of it either
}

func (e *unknownChain) Error() string {
	where := "in the store"
	if e.witness {
		where = "in the store or the witness"
	}
	return fmt.Sprintf("holds %q: %v %s, so nothing would be verified", e.id, integrity.ErrNoSuchChain, where)
}

func (e *unknownChain) Unwrap() error { return integrity.ErrNoSuchChain }

// knownChains returns an *unknownChain for the first of chains (which
// are sorted) that the store does not hold and witness has no
// checkpoint of; nil when each is known.
func (s *Service) knownChains(ctx context.Context, chains []string, witness []integrity.Checkpoint) error {
	if len(chains) == 0 {
		return nil
	}
	infos, err := s.store.Chains(ctx)
	if err != nil {
		return fmt.Errorf("verify: list chains: %w", err)
	}
	for _, id := range chains {
		if slices.ContainsFunc(infos, func(c integrity.ChainInfo) bool { return c.ID == id }) ||
			slices.ContainsFunc(witness, func(cp integrity.Checkpoint) bool { return cp.Chain == id }) {
			continue
		}
		return &unknownChain{id: id, witness: s.witness != nil}
	}
	return nil
}

// chainParam turns an *unknownChain into the 400 that names the chain
// parameter of r as sent, as GET /api/v1/integrity/bundle answers it.
func chainParam(r *http.Request, err error) error {
	if uc, ok := errors.AsType[*unknownChain](err); ok {
		return activitylog.Invalid("chain", clip(r.URL.Query().Get("chain")), uc.Error())
	}
	return err
}

// wholeTrail reports whether r's principal may read across the trail,
// every tenant's events: a superuser, or view_all_logs without a
// tenant (the route checks view_all_logs). Otherwise it answers 403,
// saying that what reads the whole trail.
func wholeTrail(w http.ResponseWriter, r *http.Request, what string) bool {
	p := activitylog.PrincipalFrom(r.Context())
	if p.Has(activitylog.Superuser) || p != nil && p.Tenant == "" {
		return true
	}
	tenant := ""
	if p != nil {
		tenant = p.Tenant
	}
	writeError(w, http.StatusForbidden, apiError{Code: "forbidden", Field: "tenant", Value: &tenant,
		Message: "forbidden tenant " + strconv.Quote(tenant) + ": " + what + " reads the whole trail, across tenants; it needs superuser, or view_all_logs without a tenant"})
	return false
}

// joinVerify returns the verification of key: the one under way when
// it is key's, or a new one when none is under way; otherwise a busy
// error.
func (s *Service) joinVerify(opts *integrity.VerifierOptions, key string) (*verifyRun, error) {
	s.vmu.Lock()
	defer s.vmu.Unlock()
	if run := s.running; run != nil {
		if run.key == key && !run.stopped {
			run.waiters++
			return run, nil
		}
		return nil, &busy{msg: "another verification, with other parameters, is under way; only one runs at a time: retry later, or ask for the same one to share its report",
			after: int(math.Ceil(s.lastRun.Seconds()))}
	}
	ctx, cancel := context.WithCancel(context.Background())
	run := &verifyRun{key: key, done: make(chan struct{}), waiters: 1, cancel: cancel}
	s.running = run
	go func() {
		start := time.Now()
		if s.witness != nil {
			wctx, wcancel := context.WithTimeout(ctx, witnessReadTimeout)
			ws, err := s.witness(wctx)
			wcancel()
			if err != nil {
				run.err = fmt.Errorf("verify: read the witness: %w", err)
			}
			opts.Witness = ws
		}
		if run.err == nil && s.witness != nil {
			// A chain the store lost whole is still verified when the
			// witness knows it (it is truncated); one that neither knows
			// is refused.
			run.err = s.knownChains(ctx, opts.Chains, opts.Witness)
		}
		if run.err == nil {
			run.rep, run.err = integrity.NewVerifier(s.store, opts).Verify(ctx)
		}
		if run.err == nil {
			s.verifyRuns.Add(1)
			if !run.rep.OK() {
				s.verifyFailures.Add(1)
				for _, n := range run.rep.Counts {
					s.verifyFindings.Add(uint64(n))
				}
			}
		}
		cancel()
		s.vmu.Lock()
		s.running = nil
		if run.err == nil {
			s.lastRun = time.Since(start)
		}
		s.vmu.Unlock()
		close(run.done)
	}()
	return run, nil
}

// leaveVerify is called by a caller that stops waiting for run: the
// last one to leave cancels it.
func (s *Service) leaveVerify(run *verifyRun) {
	s.vmu.Lock()
	defer s.vmu.Unlock()
	run.waiters--
	if run.waiters == 0 {
		run.stopped = true
		run.cancel()
	}
}

// verifyOptions parses the parameters of a verification, and returns
// them normalized as the key that tells verifications apart.
func (s *Service) verifyOptions(r *http.Request) (*integrity.VerifierOptions, string, error) {
	opts, err := s.selection(r, "/api/v1/integrity/verify", verifyParams)
	if err != nil {
		return nil, "", err
	}
	v := r.URL.Query()
	if m := v.Get("max_findings"); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n < 1 || n > MaxMaxFindings {
			return nil, "", activitylog.Invalid("max_findings", clip(m), fmt.Sprintf("must be an integer between 1 and %d", MaxMaxFindings))
		}
		opts.MaxFindings = n
	}
	kinds := make([]string, len(opts.Kinds))
	for i, k := range opts.Kinds {
		kinds[i] = string(k)
	}
	key := strings.Join(opts.Chains, ",") + "|" + strings.Join(kinds, ",") + "|" +
		timeKey(opts.From) + "|" + timeKey(opts.To) + "|" + strconv.Itoa(opts.MaxFindings)
	return opts, key, nil
}

// selection parses the chain, kind, from and to parameters of path
// into VerifierOptions with the Service's keys, refusing any parameter
// not in known.
func (s *Service) selection(r *http.Request, path string, known []string) (*integrity.VerifierOptions, error) {
	if err := onlyParams(r, path, known...); err != nil {
		return nil, err
	}
	v := r.URL.Query()
	opts := &integrity.VerifierOptions{PublicKeys: s.pubList, HMACKeys: s.hmacs, MaxFindings: s.maxFind}
	if c := v.Get("chain"); c != "" {
		for _, id := range strings.Split(c, ",") {
			if err := integrity.ValidateChainID(id); err != nil {
				return nil, activitylog.Invalid("chain", clip(c), "holds "+strconv.Quote(clip(id))+", which is not a chain id (1 to 128 ASCII letters, digits, '.', '_', ':', '-'; several are separated by commas)")
			}
			if !slices.Contains(opts.Chains, id) {
				opts.Chains = append(opts.Chains, id)
			}
		}
		slices.Sort(opts.Chains)
	}
	if k := v.Get("kind"); k != "" {
		for _, name := range strings.Split(k, ",") {
			kind := activitylog.Kind(name)
			if !kind.Valid() {
				known := make([]string, len(activitylog.Kinds))
				for i, k := range activitylog.Kinds {
					known[i] = string(k)
				}
				return nil, activitylog.Invalid("kind", clip(k), "holds "+strconv.Quote(clip(name))+", which is not a kind; known are "+strings.Join(known, ", ")+" (several are separated by commas)")
			}
			if !slices.Contains(opts.Kinds, kind) {
				opts.Kinds = append(opts.Kinds, kind)
			}
		}
		slices.Sort(opts.Kinds)
	}
	for _, b := range []struct {
		name string
		t    *time.Time
	}{{"from", &opts.From}, {"to", &opts.To}} {
		if x := v.Get(b.name); x != "" {
			t, err := time.Parse(time.RFC3339Nano, x)
			if err != nil {
				return nil, activitylog.Invalid(b.name, clip(x), "is not an RFC 3339 time, such as 2026-11-24T10:00:00Z")
			}
			*b.t = t.UTC()
		}
	}
	if !opts.From.IsZero() && !opts.To.IsZero() && !opts.From.Before(opts.To) {
		return nil, activitylog.Invalid("to", clip(v.Get("to")), "must be after from ("+clip(v.Get("from"))+")")
	}
	return opts, nil
}

func timeKey(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}

// VerifyStats are the totals of the verifications the Service ran
// (GET /api/v1/integrity/verify), since it started.
type VerifyStats struct {
	Runs     uint64 `json:"runs"`     // verifications that finished
	Failures uint64 `json:"failures"` // of those, with a finding
	Findings uint64 `json:"findings"` // findings of all of them
}

// VerifyStats returns the totals of the verifications run so far, for
// metrics: a failure there means the trail is not intact.
func (s *Service) VerifyStats() VerifyStats {
	return VerifyStats{Runs: s.verifyRuns.Load(), Failures: s.verifyFailures.Load(), Findings: s.verifyFindings.Load()}
}
