//go:build !unix

package spool

import (
	"fmt"
	"os"
)

// lockDir opens dir/LOCK. Outside Unix it takes no lock: do not open one
// spool directory from two processes.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open spool lock: %w", err)
	}
	return f, nil
}
