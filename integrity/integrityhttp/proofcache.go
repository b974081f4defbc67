package integrityhttp

import "github.com/activitylog/activitylog/integrity"

// ProofCacheStats returns what the proofs' subtree cache holds now
// (Options.ProofCache): the chains, their blocks, and the bytes
// reserved for them, which ProofCache.MaxBytes bounds.
func (s *Service) ProofCacheStats() integrity.SubtreeStats { return s.trees.Stats() }
