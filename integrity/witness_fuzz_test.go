package integrity

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzReadWitness: any bytes give checkpoints or an error, never a
// panic, and every checkpoint read back writes as the line it came from
// would be read again.
func FuzzReadWitness(f *testing.F) {
	_, priv, _ := GenerateKey()
	cp := Checkpoint{Version: CheckpointVersion, Chain: "c", FromSeq: 1, ToSeq: 2}
	if err := cp.Sign(priv); err != nil {
		f.Fatal(err)
	}
	line, _ := json.Marshal(cp)
	f.Add(append(line, '\n'))
	f.Add(append(append(line, '\n'), line...))
	f.Add([]byte("{}\n"))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cps, err := ReadWitness(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, c := range cps {
			out, err := json.Marshal(c)
			if err != nil {
				t.Fatalf("checkpoint read from a witness does not marshal: %v", err)
			}
			again, err := ReadWitness(bytes.NewReader(append(out, '\n')))
			if err != nil || len(again) != 1 || again[0].Hash() != c.Hash() {
				t.Fatalf("round trip of %s: %v", out, err)
			}
		}
	})
}
