package config

import (
	"errors"
	"testing"

	"github.com/activitylog/activitylog"
)

// Whatever the file holds, loading it either fails with a config error
// or yields a configuration that validates.
func FuzzLoadYAML(f *testing.F) {
	for _, seed := range []string{
		"",
		"addr: 127.0.0.1:9000\ndb: /var/lib/activitylog.db\nmode: sync\non_full: fail\n",
		"queue_size: 10\nmax_batch: 20\n",
		"flush_interval: 50ms\ndemo: true\ndemo_interval: 1s\n",
		"adr: x\n",
		"- a\n- b\n",
		"db: [1, 2]\n",
		"a: &x 1\nb: *x\n",
		"db: a\n---\ndb: b\n",
		"service: ~\nlog_level: \"debug\"\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c := Default()
		err := loadYAML(&c, "fuzz.yaml", b, map[string]string{}, nil, false)
		if err != nil {
			var fe *FileError
			var se *Error
			if !errors.As(err, &fe) && !errors.As(err, &se) {
				t.Fatalf("error %T %v is neither a *FileError nor an *Error", err, err)
			}
			if se != nil && !errors.Is(err, activitylog.ErrInvalid) {
				t.Fatalf("setting error %v does not wrap ErrInvalid", err)
			}
			return
		}
		// Parsing alone does not validate; validation must not panic.
		_ = c.Validate()
	})
}
