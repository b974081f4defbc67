package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Dir is an Archive in a local directory: a name a/b/c is the file
// Root/a/b/c. Put writes a temporary file beside the target (its name
// begins with a dot), fsyncs it, links it to its name (which fails if
// the name exists, so nothing is ever replaced), and fsyncs the
// directory; a crash leaves either the whole file or none, and at most
// a temporary file that a later List ignores.
type Dir struct {
	Root string
}

var _ Archive = Dir{}

func (d Dir) path(name string) (string, error) {
	if d.Root == "" {
		return "", errors.New("archive dir: no root directory")
	}
	if err := ValidName(name); err != nil {
		return "", err
	}
	return filepath.Join(d.Root, filepath.FromSlash(name)), nil
}

// Put implements Archive.
func (d Dir) Put(ctx context.Context, name string, r io.Reader) (err error) {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	dir := filepath.Dir(p)
	if err := d.mkdirAll(dir); err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	if _, err := os.Lstat(p); err == nil {
		return fmt.Errorf("put %s: %w", name, fs.ErrExist)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(p)+".tmp-*")
	if err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	tmp := f.Name()
	defer func() {
		if f != nil {
			f.Close()
		}
		os.Remove(tmp)
	}()
	if _, err := io.Copy(f, ctxReader{ctx, r}); err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("put %s: fsync: %w", name, err)
	}
	err = f.Close()
	f = nil
	if err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	// A hard link never replaces its target: two writers of one name
	// cannot both succeed. Where links are not supported, rename after
	// the check above.
	if err := os.Link(tmp, p); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("put %s: %w", name, fs.ErrExist)
		}
		if err := os.Rename(tmp, p); err != nil {
			return fmt.Errorf("put %s: %w", name, err)
		}
	}
	os.Remove(tmp) // linked: the temporary name goes before the fsync
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("put %s: fsync directory: %w", name, err)
	}
	return nil
}

// mkdirAll makes dir and its missing parents under Root, fsyncing each
// parent a directory was made in.
func (d Dir) mkdirAll(dir string) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := d.mkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(parent)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// Open implements Archive.
func (d Dir) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("open %s: not a regular file: %w", name, fs.ErrNotExist)
	}
	return f, nil
}

// List implements Archive. It skips temporary files and anything that
// is not a regular file with a valid name.
func (d Dir) List(ctx context.Context, prefix string) ([]string, error) {
	if d.Root == "" {
		return nil, errors.New("archive dir: no root directory")
	}
	var names []string
	err := filepath.WalkDir(d.Root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p == d.Root && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, rerr := filepath.Rel(d.Root, p)
		if rerr != nil || rel == "." {
			return nil
		}
		name := filepath.ToSlash(rel)
		if strings.HasPrefix(e.Name(), ".") {
			if e.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if e.IsDir() {
			// Skip directories that cannot hold a name with prefix.
			if !strings.HasPrefix(name+"/", prefix) && !strings.HasPrefix(prefix, name+"/") {
				return fs.SkipDir
			}
			return nil
		}
		if e.Type().IsRegular() && strings.HasPrefix(name, prefix) && ValidName(name) == nil {
			names = append(names, name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", d.Root, err)
	}
	slices.Sort(names)
	return names, nil
}

// ctxReader stops a copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
