package server

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
)

// This file holds the part of openapiSpec that documents the per-event
// integrity status and the routes of package integrityhttp, which a
// host adds through Options.Routes and Options.Annotators.

const (
	oaChainID   = "0190a6e0-5c1a-7b3e-9f00-0000000000c1"
	oaHash1     = "b24c3e68522d3bb642bbc53ff874a732ba8cb12e535ef485faf1476f5a6e64c9"
	oaHash2     = "32dcd83cf76bd7b25c87f5a0849286a9ef38deb3b783fd42901b5207aaae9dc8"
	oaRoot      = "8a45cf81a2461b7393f2fa2f2ecb7c79e1d76a2c84dd568f4218d87fed558f62"
	oaZero      = "0000000000000000000000000000000000000000000000000000000000000000"
	oaSignature = "a13effbf99f96fe7f7599aa305ffe6040eea697b34c3e2ec7b630eff100d618de87a9882a31a631c1e5a3d7acb1f3c9c5c2bada8b1991a548521a0903a5f1402"
	oaKeyID     = "fe812c12f3ab4ce6"

	oaIntegrityExample  = `{"status": "checkpointed", "chain": "` + oaChainID + `", "seq": 2, "hash": "` + oaHash2 + `", "checkpoint": 2}`
	oaCheckpointExample = `{"version": 1, "chain": "` + oaChainID + `", "from_seq": 1, "to_seq": 2, "range_root": "` + oaRoot + `", "tree_root": "` + oaRoot + `", "prev": "` + oaZero + `", "time": "2026-11-24T10:05:00.500000000Z", "key_id": "` + oaKeyID + `", "signature": "` + oaSignature + `"}`
	oaCheckpointBody    = "activitylog/checkpoint/v1\nchain " + oaChainID + "\nfrom 1\nto 2\nrange " + oaRoot + "\ntree " + oaRoot + "\nprev " + oaZero + "\ntime 2026-11-24T10:05:00.500000000Z\nkey " + oaKeyID + "\n"
)

// oaIntegrityStatusText describes the statuses, exactly.
const oaIntegrityStatusText = "What the event's own seal says, checked when it is answered. It is about this event's bytes only: whether they still hash to " +
	"the hash stored with them, and whether a signed checkpoint covers its seq. It does not check the links between events, the Merkle roots, " +
	"deletions or reordering: GET /api/v1/integrity/verify does. The statuses:\n\n" +
	"- `unsealed`: the event has no seal (written without integrity, or its seal removed). Always a failure: nothing vouches for it.\n" +
	"- `modified`: its canonical bytes (activitylog.AppendCanonical of the event as answered), hashed after the stored `prev` " +
	"(SHA-256, or HMAC-SHA-256 with the chain's key), are not the stored `hash`: the event was changed after it was sealed. " +
	"(Someone who also rewrote the stored hash of a keyless chain is not caught here, only by the verifier, through the links and roots.)\n" +
	"- `unchecked`: the chain is keyed with an HMAC key this server does not hold, so the hash could not be recomputed.\n" +
	"- `sealed`: the hash recomputes; no checkpoint signed by a trusted key covers its seq yet.\n" +
	"- `checkpointed`: the hash recomputes, and a checkpoint of its chain whose signature verifies with a trusted key covers its seq " +
	"(`to_seq >= seq`). That the hash is in the checkpoint's tree is what GET /api/v1/events/{id}/proof shows.\n\n" +
	"`chain`, `seq` and `hash` are the stored seal (absent when unsealed); `checkpoint` is the `to_seq` of the first trusted checkpoint " +
	"that covers the seq, for any status but unsealed, absent when none does (pass it as `checkpoint` to the proof). " +
	"What the server knows of a chain's checkpoints is read again at most once a second, so a new checkpoint may take that long to show."

// oaEventAnswer is the Event schema with the member integrity, as the
// list and detail answers give events.
func oaEventAnswer(event jobj) jobj {
	a := oaClone(event, func(k string, v any) any { return v }).(jobj)
	a.set("title", "activitylog event, as answered")
	a.set("description", "An event as the list and detail answers give it: the Event schema, and, when the server seals its trail, the member `integrity`.")
	props := a.get("properties").(jobj)
	props.set("integrity", oaSchemaRef("EventIntegrity"))
	a.set("properties", props)
	ex := oaParse(oaEventExample).(jobj)
	ex.set("integrity", oaParse(oaIntegrityExample))
	a.set("examples", []any{ex})
	return a
}

func oaIntegritySchemas() jobj {
	hash := func(desc string) jobj {
		return jobj{{"type", "string"}, {"pattern", "^[0-9a-f]{64}$"}, {"description", desc}}
	}
	seq := func(desc string) jobj { return oaInt(desc, 1, 0) }
	count := func(desc string) jobj { return oaInt(desc, 0, 0) }
	chainID := jobj{{"type", "string"}, {"pattern", "^[A-Za-z0-9._:-]{1,128}$"}, {"description", "A chain id."}}
	reasons := []any{"modified", "missing", "inserted", "reordered", "truncated", "bad_signature", "missing_hash", "checkpoint_mismatch"}
	body := func(desc string) jobj {
		return jobj{{"type", "string"}, {"pattern", "^activitylog/checkpoint/v1\n"}, {"description", desc}}
	}
	return jobj{
		{"EventIntegrity", jobj{
			{"type", "object"},
			{"description", oaIntegrityStatusText},
			{"additionalProperties", false},
			{"required", []any{"status"}},
			{"properties", jobj{
				{"status", jobj{{"enum", []any{"unsealed", "modified", "unchecked", "sealed", "checkpointed"}}}},
				{"chain", chainID},
				{"seq", seq("Its seq in the chain.")},
				{"hash", hash("Its stored event hash.")},
				{"checkpoint", seq("The to_seq of the first trusted checkpoint that covers it.")},
			}},
			{"examples", []any{oaParse(oaIntegrityExample), oaParse(`{"status": "unsealed"}`)}},
		}},
		{"Seal", jobj{
			{"type", "object"},
			{"description", "An event's stored seal: its chain, its seq, the hash of the event before it (the chain's genesis value for seq 1) and its own hash."},
			{"additionalProperties", false},
			{"required", []any{"chain", "seq", "prev", "hash"}},
			{"properties", jobj{{"chain", chainID}, {"seq", seq("")}, {"prev", hash("")}, {"hash", hash("")}}},
		}},
		{"Checkpoint", jobj{
			{"type", "object"},
			{"description", "A signed checkpoint in its JSON form (docs/integrity.md, Checkpoints). Its signed body is rebuilt from these members; the answers that carry one give that body too."},
			{"additionalProperties", false},
			{"required", []any{"version", "chain", "from_seq", "to_seq", "range_root", "tree_root", "prev", "time", "key_id", "signature"}},
			{"properties", jobj{
				{"version", jobj{{"const", 1}}},
				{"chain", chainID},
				{"from_seq", seq("The first seq it covers.")},
				{"to_seq", seq("The last seq it covers; also the size of the tree whose root is tree_root.")},
				{"range_root", hash("RFC 6962 root of the event hashes from_seq..to_seq.")},
				{"tree_root", hash("RFC 6962 root of the event hashes 1..to_seq.")},
				{"prev", hash("SHA-256 of the previous checkpoint's body; zero for the first.")},
				{"time", jobj{{"type", "string"}, {"pattern", "^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{9}Z$"}}},
				{"key_id", jobj{{"type", "string"}, {"pattern", "^[0-9a-f]{16}$"}}},
				{"signature", jobj{{"type", "string"}, {"pattern", "^[0-9a-f]{128}$"}, {"description", "Ed25519 over the body."}}},
			}},
			{"examples", []any{oaParse(oaCheckpointExample)}},
		}},
		{"PublicKeys", jobj{
			{"type", "object"},
			{"additionalProperties", false},
			{"required", []any{"keys"}},
			{"properties", jobj{{"keys", jobj{{"type", "array"}, {"items", jobj{
				{"type", "object"},
				{"additionalProperties", false},
				{"required", []any{"key_id", "algorithm", "pem"}},
				{"properties", jobj{
					{"key_id", jobj{{"type", "string"}, {"pattern", "^[0-9a-f]{16}$"}, {"description", "Hex of the first 8 bytes of SHA-256 over the raw 32-byte public key: the key line of the checkpoints it signs."}}},
					{"algorithm", jobj{{"const", "Ed25519"}}},
					{"pem", oaStr("The key as PEM `PUBLIC KEY` (PKIX, SubjectPublicKeyInfo), as openssl reads it.")},
				}},
			}}}}}},
		}},
		{"VerifyReport", jobj{
			{"type", "object"},
			{"description", "The verifier's report (integrity.Report, docs/integrity.md, Verification) with `ok`. Its counts and findings are documented there; " +
				"it names events by id, chain and seq, never by content."},
			{"required", []any{"ok", "total", "verified", "unsealed", "checkpoints", "checkpoints_verified", "chains", "counts", "findings"}},
			{"properties", jobj{
				{"ok", jobj{{"type", "boolean"}, {"description", "True when there is no finding at all."}}},
				{"total", count("Events read, sealed and unsealed.")},
				{"verified", count("Events whose seal verified and that carry no finding.")},
				{"unsealed", count("Events without a seal; each is a missing_hash finding.")},
				{"checkpoints", count("The store's checkpoints.")},
				{"checkpoints_verified", count("Distinct checkpoints (store or witness) that verified fully.")},
				{"chains", jobj{{"type", "array"}, {"items", jobj{
					{"type", "object"},
					{"required", []any{"id", "entries", "verified", "length", "checkpoints", "checkpoints_verified", "anchored"}},
					{"properties", jobj{
						{"id", chainID}, {"key_id", oaStr("The HMAC key id of a keyed chain.")},
						{"entries", count("")}, {"verified", count("")}, {"length", count("Its last seq as its links place it.")},
						{"checkpoints", count("")}, {"checkpoints_verified", count("")},
						{"anchored", count("The highest seq a verified checkpoint covers; later events are protected by their links only.")},
					}},
				}}}},
				{"counts", jobj{{"type", "object"}, {"description", "Findings by reason, all of them."}, {"propertyNames", jobj{{"enum", reasons}}}, {"additionalProperties", jobj{{"type", "integer"}, {"minimum", 1}}}}},
				{"findings", jobj{{"type", "array"}, {"description", "By chain and seq, up to max_findings."}, {"items", jobj{
					{"type", "object"},
					{"required", []any{"reason", "detail"}},
					{"properties", jobj{
						{"reason", jobj{{"enum", reasons}}},
						{"chain", chainID}, {"seq", seq("")}, {"end_seq", seq("The end of a range of seqs.")},
						{"event_id", oaSchemaRef("UUID")}, {"detail", oaStr("")},
					}},
				}}}},
				{"findings_omitted", count("Findings beyond max_findings.")},
			}},
		}},
		{"InclusionProof", jobj{
			{"type", "object"},
			{"description", "An RFC 6962 inclusion proof of an event's hash in the tree a checkpoint signs. To check it: verify `checkpoint_body` (rebuilt from `checkpoint`) " +
				"with the published key and `checkpoint.signature`; then fold `leaf_hash` = SHA-256(0x00 || seal.hash) with `proof` at `leaf_index` in a tree of `tree_size` leaves " +
				"(RFC 9162, 2.1.3.2) and compare with `checkpoint.tree_root`. `integrity` says whether the event's stored bytes still hash to `seal.hash`."},
			{"additionalProperties", false},
			{"required", []any{"event_id", "seal", "integrity", "checkpoint", "checkpoint_body", "key_id", "leaf_index", "leaf_hash", "tree_size", "proof"}},
			{"properties", jobj{
				{"event_id", oaSchemaRef("UUID")},
				{"seal", oaSchemaRef("Seal")},
				{"integrity", oaSchemaRef("EventIntegrity")},
				{"checkpoint", oaSchemaRef("Checkpoint")},
				{"checkpoint_body", body("The checkpoint's signed body, nine lines.")},
				{"key_id", jobj{{"type", "string"}, {"pattern", "^[0-9a-f]{16}$"}, {"description", "The key that signed the checkpoint."}}},
				{"leaf_index", count("seq - 1.")},
				{"leaf_hash", hash("SHA-256(0x00 || seal.hash).")},
				{"tree_size", seq("The checkpoint's to_seq.")},
				{"proof", jobj{{"type", "array"}, {"items", hash("")}, {"description", "The audit path, from the leaf up."}}},
			}},
		}},
		{"ConsistencyProof", jobj{
			{"type", "object"},
			{"description", "An RFC 6962 consistency proof that the tree of the checkpoint to seq `to` extends the tree of the checkpoint to seq `from` " +
				"(RFC 9162, 2.1.4.2), with both checkpoints and their signed bodies."},
			{"additionalProperties", false},
			{"required", []any{"chain", "from", "to", "from_checkpoint", "from_body", "to_checkpoint", "to_body", "proof"}},
			{"properties", jobj{
				{"chain", chainID},
				{"from", seq("")}, {"to", seq("")},
				{"from_checkpoint", oaSchemaRef("Checkpoint")}, {"from_body", body("")},
				{"to_checkpoint", oaSchemaRef("Checkpoint")}, {"to_body", body("")},
				{"proof", jobj{{"type", "array"}, {"items", hash("")}}},
			}},
		}},
	}
}

// oaIntegrityOps are the routes of integrityhttp.Service.Routes.
func oaIntegrityOps(bad jobj) []oaOp {
	q := func(name, desc string, schema jobj, example any) jobj {
		return append(oaQuery(name, desc, schema), jkv{"example", example})
	}
	required := func(p jobj) jobj { return append(p, jkv{"required", true}) }
	conflict := func(desc string, codes []string, example string) jobj {
		return oaErrResp(desc+" `code` is one of "+strings.Join(codes, ", ")+".", example)
	}
	busy := oaWithHeaders(oaErrResp("Busy: the work asked for is under way for another request; retry after Retry-After seconds.",
		`{"error": {"code": "busy", "message": "another verification, with other parameters, is under way; only one runs at a time: retry later, or ask for the same one to share its report"}}`),
		jobj{{"Retry-After", jobj{{"description", "Seconds to wait before retrying."}, {"required", true}, {"schema", jobj{{"type", "integer"}, {"minimum", 1}}}}}})
	seqParam := func(name, desc string, example int) jobj {
		return q(name, desc, jobj{{"type", "integer"}, {"minimum", 1}}, example)
	}
	return []oaOp{
		{
			method: "GET", path: "/api/v1/integrity/public-key", id: "getIntegrityPublicKeys", tag: "integrity",
			summary: "The checkpoint signing keys",
			desc: "The Ed25519 public keys whose checkpoints this server trusts, the one that signs new checkpoints first: what an auditor checks " +
				"checkpoints, proofs and exported bundles with. Public, like any public key; compare it with a copy obtained another way before trusting it. " +
				"Empty when the server has none. It takes no parameter.",
			need: Public,
			responses: jobj{
				{"200", oaResp("The keys.", oaJSON(oaSchemaRef("PublicKeys"), oaParse(`{"keys": [{"key_id": "`+oaKeyID+`", "algorithm": "Ed25519", "pem": "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA6kpsY+KcUgq+9VB7Ey7F+ZVHdq6+vnuSQh7qaRRG0iw=\n-----END PUBLIC KEY-----\n"}]}`)))},
				{"400", bad},
			},
		},
		{
			method: "GET", path: "/api/v1/integrity/verify", id: "verifyIntegrity", tag: "integrity",
			summary: "Verify the stored trail",
			desc: "Runs the verifier over the stored trail (the chains, their hashes, links, Merkle roots and checkpoint signatures, against the witness when the server has one) " +
				"and answers its report, with `ok` true when there is no finding at all: a trail with findings is still a 200. Every unsealed event is a `missing_hash` finding. " +
				"It reads every event, which takes seconds for a million. One verification runs at a time: a request with the same parameters waits for the one under way " +
				"and gets its report; one with other parameters gets 429 with Retry-After. It is cancelled when every request waiting for it has gone.\n\n" +
				"The report covers every tenant: it names events by id, chain and seq (never their content) and counts them. So it needs `superuser`, " +
				"or `view_all_logs` held by a principal without a tenant; a principal with a tenant gets 403 naming `tenant`.",
			need: activitylog.ViewAllLogs,
			params: []any{
				q("chain", "Only these chains, by id, separated by commas; each must be held by the store or the witness (else a 400 naming `chain`: a mistyped id is never reported as verified). Events without a seal are then not read.", jobj{{"type", "string"}}, oaChainID),
				q("kind", "Only findings and counts that concern events of these kinds, separated by commas; chains are still read whole.", jobj{{"type", "string"}, {"pattern", "^[a-z]+(,[a-z]+)*$"}}, "crud,auth"),
				q("from", "Only events at or after this time (RFC 3339).", jobj{{"type", "string"}, {"format", "date-time"}}, "2026-11-01T00:00:00Z"),
				q("to", "Only events before this time (RFC 3339); after from.", jobj{{"type", "string"}, {"format", "date-time"}}, "2026-12-01T00:00:00Z"),
				q("max_findings", "The most findings listed; `counts` counts them all.", jobj{{"type", "integer"}, {"minimum", 1}, {"maximum", 100000}, {"default", 1000}}, 100),
			},
			responses: jobj{
				{"200", oaResp("The report.", oaJSON(oaSchemaRef("VerifyReport"), oaParse(
					`{"ok": false, "total": 1201, "verified": 1199, "unsealed": 1, "checkpoints": 3, "checkpoints_verified": 3, `+
						`"chains": [{"id": "`+oaChainID+`", "entries": 1200, "verified": 1199, "length": 1200, "checkpoints": 3, "checkpoints_verified": 3, "anchored": 1200}], `+
						`"counts": {"modified": 1, "missing_hash": 1}, `+
						`"findings": [{"reason": "missing_hash", "event_id": "`+oaID2+`", "detail": "the event has no seal"}, {"reason": "modified", "chain": "`+oaChainID+`", "seq": 17, "event_id": "`+oaID1+`", "detail": "its bytes do not hash to its seal"}]}`)))},
				{"400", bad},
				{"403", oaErrResp("The principal lacks view_all_logs, or has a tenant (`field` is then `tenant`).",
					`{"error": {"code": "forbidden", "message": "forbidden tenant \"acme\": verification reads the whole trail, across tenants; it needs superuser, or view_all_logs without a tenant", "field": "tenant", "value": "acme"}}`)},
				{"429", busy},
				{"503", oaRespRef("Unavailable")},
			},
		},
		{
			method: "GET", path: "/api/v1/integrity/bundle", id: "getIntegrityBundle", tag: "integrity",
			summary: "Download the offline bundle",
			desc: "The offline bundle that `activitylog export --with-proofs` writes, as a download: gzip-compressed NDJSON holding the trusted public keys, " +
				"every chain's info, its signed checkpoints and pruning records, and the events with their seals. With `kind`, `from` or `to` it holds only those " +
				"events, each with an RFC 6962 inclusion proof to its chain's newest checkpoint, and the consistency proofs between the chain's checkpoints; " +
				"selected events that no checkpoint covers yet are left out. Anyone checks it with `activitylog verify --bundle FILE --public-key PUB`, " +
				"without the server. A download that breaks off after it started is cut short (its gzip stream has no end, so the reader refuses it) and its " +
				"trailer says `truncated`. One bundle is written at a time; another request gets 429. Every download is recorded as an event of kind export.\n\n" +
				"It holds every tenant's events, so it needs `superuser`, or `view_all_logs` held by a principal without a tenant.",
			need: activitylog.ViewAllLogs,
			params: []any{
				q("chain", "Only these chains, by id, separated by commas; each must exist. Events without a seal are then left out.", jobj{{"type", "string"}}, oaChainID),
				q("kind", "Only events of these kinds, separated by commas, each with its proof.", jobj{{"type", "string"}, {"pattern", "^[a-z]+(,[a-z]+)*$"}}, "crud,auth"),
				q("from", "Only events at or after this time (RFC 3339), each with its proof.", jobj{{"type", "string"}, {"format", "date-time"}}, "2026-11-01T00:00:00Z"),
				q("to", "Only events before this time (RFC 3339); after from.", jobj{{"type", "string"}, {"format", "date-time"}}, "2026-12-01T00:00:00Z"),
			},
			responses: jobj{
				{"200", oaWithHeaders(oaResp("The bundle.", jobj{{"application/gzip", jobj{{"schema", jobj{{"type", "string"}, {"contentMediaType", "application/gzip"}, {"description", "Gzip-compressed NDJSON; docs/integrity.md, Offline bundles."}}}}}}),
					jobj{
						{"Content-Disposition", jobj{{"description", "attachment, with a file name such as `activitylog-bundle-20261124T093000Z.ndjson.gz`."}, {"required", true}, {"schema", jobj{{"type", "string"}}}}},
						{"Trailer", jobj{{"description", "`X-Export-Status`: the trailer is `complete`, or `truncated` when the download broke off after it started."}, {"schema", jobj{{"type", "string"}}}}},
					})},
				{"400", bad},
				{"403", oaErrResp("The principal lacks view_all_logs, or has a tenant (`field` is then `tenant`).",
					`{"error": {"code": "forbidden", "message": "forbidden tenant \"acme\": an offline bundle reads the whole trail, across tenants; it needs superuser, or view_all_logs without a tenant", "field": "tenant", "value": "acme"}}`)},
				{"429", busy},
				{"503", oaRespRef("Unavailable")},
			},
		},
		{
			method: "GET", path: "/api/v1/integrity/consistency", id: "getConsistencyProof", tag: "integrity",
			summary: "Consistency proof between two checkpoints",
			desc: "The RFC 6962 consistency proof that the tree signed by the chain's checkpoint to seq `to` extends the tree signed by its checkpoint to seq `from`: " +
				"nothing up to `from` was changed or removed in between. Both must be stored checkpoints of the chain and verify with a trusted key; the server checks the proof " +
				"before answering it. It holds hashes only, no event content, so any reader may ask (the checkpoints reveal how many events the chain holds, across tenants). " +
				"At most two proofs are built at once; a third request gets 429.",
			need: activitylog.ViewLogs,
			params: []any{
				required(q("chain", "The chain's id.", jobj{{"type", "string"}}, oaChainID)),
				required(seqParam("from", "The to_seq of the older checkpoint.", 10)),
				required(seqParam("to", "The to_seq of the newer checkpoint; at least from.", 20)),
			},
			responses: jobj{
				{"200", oaResp("The proof.", oaJSON(oaSchemaRef("ConsistencyProof"), oaParse(
					`{"chain": "`+oaChainID+`", "from": 2, "to": 2, "from_checkpoint": `+oaCheckpointExample+`, "from_body": `+oaQuoted(oaCheckpointBody)+`, "to_checkpoint": `+oaCheckpointExample+`, "to_body": `+oaQuoted(oaCheckpointBody)+`, "proof": []}`)))},
				{"400", bad},
				{"404", oaErrResp("The chain has no checkpoint with that to_seq.", `{"error": {"code": "not_found", "message": "chain `+oaChainID+` has no checkpoint with to_seq 25"}}`)},
				{"409", conflict("A checkpoint does not verify with a trusted key, or the stored hashes do not lead from one root to the other (the chain was altered).",
					[]string{"untrusted_checkpoint", "proof_failed"},
					`{"error": {"code": "untrusted_checkpoint", "message": "the checkpoint of chain `+oaChainID+` to seq 20 does not verify with a trusted key (key id \"fe812c12f3ab4ce6\"): it was altered, or signed by a key this server does not trust"}}`)},
				{"429", busy},
				{"503", oaRespRef("Unavailable")},
			},
		},
		{
			method: "GET", path: "/api/v1/events/{id}/proof", id: "getInclusionProof", tag: "integrity",
			summary: "Inclusion proof of an event",
			desc: "The RFC 6962 inclusion proof of the event's hash in the tree signed by the newest checkpoint of its chain that covers it and verifies with a trusted key, " +
				"or by the checkpoint whose to_seq is `checkpoint`; with the checkpoint, its signed body and the event's integrity status. The server checks the proof before " +
				"answering it. An event the principal may not see is a 404, as for GET /api/v1/events/{id}. Building a proof reads the hashes of the chain up to the " +
				"checkpoint; at most two are built at once, a third request gets 429.",
			need: activitylog.ViewLogs, scoped: true,
			params: []any{
				oaParamRef("EventID"),
				seqParam("checkpoint", "The to_seq of the checkpoint to prove inclusion in; at least the event's seq. Default: the newest trusted one.", 20),
			},
			responses: jobj{
				{"200", oaResp("The proof.", oaJSON(oaSchemaRef("InclusionProof"), oaParse(
					`{"event_id": "`+oaID1+`", "seal": {"chain": "`+oaChainID+`", "seq": 2, "prev": "`+oaHash1+`", "hash": "`+oaHash2+`"}, "integrity": `+oaIntegrityExample+`, `+
						`"checkpoint": `+oaCheckpointExample+`, "checkpoint_body": `+oaQuoted(oaCheckpointBody)+`, "key_id": "`+oaKeyID+`", "leaf_index": 1, `+
						`"leaf_hash": "`+oaLeaf(oaHash2)+`", "tree_size": 2, "proof": ["`+oaLeaf(oaHash1)+`"]}`)))},
				{"400", bad},
				{"404", oaErrResp("No such event, one outside the principal's scope, or no checkpoint of its chain with to_seq `checkpoint`.",
					`{"error": {"code": "not_found", "message": "no event has id `+oaID2+`"}}`)},
				{"409", conflict("No proof can be made: the event has no seal, no trusted checkpoint covers it yet, the checkpoint asked for does not verify, "+
					"or the stored hashes do not lead to its root (the chain was altered).",
					[]string{"unsealed", "not_checkpointed", "untrusted_checkpoint", "proof_failed"},
					`{"error": {"code": "not_checkpointed", "message": "the event is seq 31 of chain `+oaChainID+`, and no checkpoint signed by a trusted key covers it yet (the newest ends at seq 30); the writer makes one with a later batch, or when its checkpoint interval passes"}}`)},
				{"429", busy},
				{"503", oaRespRef("Unavailable")},
			},
		},
	}
}

// oaLeaf is the RFC 6962 leaf hash of the event hash h.
func oaLeaf(h string) string {
	eh, err := integrity.ParseHash(h)
	if err != nil {
		panic(err)
	}
	return integrity.LeafHash(eh).String()
}

// oaQuoted is s as a JSON string.
func oaQuoted(s string) string {
	b, _ := oaMarshal(s)
	return string(b)
}

// The integrity examples are real: the checkpoint is signed by the test
// key of docs/integrity.md (seed 32 bytes 0x07), its body is the one
// given, and the inclusion proof leads to its tree root.
func TestOpenAPIIntegrityExamples(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	var cp integrity.Checkpoint
	if err := json.Unmarshal([]byte(oaCheckpointExample), &cp); err != nil {
		t.Fatal(err)
	}
	if err := cp.Verify(priv.Public().(ed25519.PublicKey)); err != nil {
		t.Fatalf("the example checkpoint: %v", err)
	}
	if string(cp.Body()) != oaCheckpointBody {
		t.Fatalf("the example body is not the checkpoint's:\n%s", cp.Body())
	}
	h1, _ := integrity.ParseHash(oaHash1)
	h2, _ := integrity.ParseHash(oaHash2)
	if err := integrity.VerifyInclusion(2, 2, h2, []integrity.Hash{integrity.LeafHash(h1)}, cp.TreeRoot); err != nil {
		t.Fatalf("the example proof: %v", err)
	}
}
