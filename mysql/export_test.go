package mysql

// SendsInserts reports whether s sends INSERT statements rather than
// LOAD DATA LOCAL INFILE files (load.go).
func SendsInserts(s *Store) bool { return s.inserts.Load() }
