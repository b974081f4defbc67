package integrity

import (
	"crypto/sha256"
	"testing"
)

// The tree's compact range is compact.Range's, hash for hash, at every
// size (its State.Tree and State.Batch are stored and read back by
// other versions), and so is its root; a tree restored from its state
// grows on as the original does.
func TestTreeMatchesCompactRange(t *testing.T) {
	ref := factory.NewEmptyRange(0)
	tr := newTree()
	for i := range 1100 {
		if i == 517 {
			var err error
			if tr, err = treeFrom(tr.size(), tr.state()); err != nil {
				t.Fatal(err)
			}
		}
		leaf := LeafHash(sha256.Sum256([]byte{byte(i), byte(i >> 8)}))
		tr.appendLeaf(leaf)
		if err := ref.Append(leaf[:], nil); err != nil {
			t.Fatal(err)
		}
		want, err := bytesToHashes(ref.Hashes())
		if err != nil {
			t.Fatal(err)
		}
		got := tr.state()
		if len(got) != len(want) || tr.size() != ref.End() {
			t.Fatalf("size %d: %d hashes, want %d", i+1, len(got), len(want))
		}
		for k := range got {
			if got[k] != want[k] {
				t.Fatalf("size %d: hash %d differs", i+1, k)
			}
		}
		root, err := ref.GetRootHash(nil)
		if err != nil {
			t.Fatal(err)
		}
		if tr.root() != Hash(root) {
			t.Fatalf("size %d: root differs", i+1)
		}
	}
	if got := newTree().root(); got != emptyRoot {
		t.Fatalf("empty root %s", got)
	}
	if s := newTree().state(); s == nil || len(s) != 0 {
		t.Fatalf("empty state %#v, want an empty slice", s)
	}
	if _, err := treeFrom(5, make([]Hash, 3)); err == nil {
		t.Fatal("treeFrom took 3 hashes for 5 leaves")
	}
}
