// Package integrity makes an audit trail tamper-evident and checks it:
// hash chains, RFC 6962 Merkle trees, signed checkpoints, witnesses,
// inclusion and consistency proofs, and a verifier that reports every
// kind of edit. It works on the canonical bytes of events
// (activitylog.AppendCanonical) and knows no store: a store seals what
// it writes with a Chainer and lets the Verifier read it through a
// Source. docs/integrity.md defines every byte, so that an auditor
// can check a trail without this code.
//
// # Chains
//
// Each writer process appends to a chain of its own, with an id
// (NewChainID) and seqs from 1 without gaps. The hash of an event is
//
//	SHA-256("activitylog/event/v1" || 0x00 || prev || canonical bytes)
//
// where prev is the hash of the event before it, or Genesis(chain id)
// for the first; with an HMACKey it is HMAC-SHA-256 under the key
// instead, so that someone who can write to the store but lacks the
// key cannot make a hash that verifies. Chainer.Next seals one event;
// Chainer.State and Restore carry a chain over a restart.
//
// # Trees and checkpoints
//
// The event hashes of a chain are the leaves of an RFC 6962 Merkle tree
// (leaf hash SHA-256(0x00 || event hash)). Chainer.Checkpoint signs,
// with Ed25519, the root over the events since the last checkpoint, the
// root over the whole chain so far, and the hash of the previous
// checkpoint. A Witness keeps copies of the checkpoints elsewhere
// (FileWitness), so that even the loss of the newest events with their
// checkpoints shows. Keys are PEM files (GenerateKeyFiles); a key's id
// is KeyID.
//
// # Proofs
//
// InclusionProof shows that an event is in the tree a checkpoint signs,
// ConsistencyProof that a later checkpoint's tree extends an earlier
// one's; VerifyInclusion and VerifyConsistency check them. They read
// event hashes through a HashesFunc.
//
// # Verifying
//
// Verifier.Verify recomputes every hash, link, tree root and signature
// from a Source and returns a Report: totals, and a Finding for each
// fault with its chain, seq or event id and its Reason (modified,
// missing, inserted, reordered, truncated, bad_signature, missing_hash,
// checkpoint_mismatch). A perfect chain is read once, streaming; a
// chain with a fault is read again into memory to say exactly what is
// wrong.
package integrity
