package access

// PasswordsVerified returns how many passwords s has checked against a
// hash, for the tests.
func PasswordsVerified(s *Service) int64 { return s.verified.Load() }
