// make-vectors.mjs: test vectors for internal/encryption, made by Node exactly
// as TestPlanIt's testplanit/utils/encryption.ts makes credentials:
// base64(salt(32) ‖ iv(16) ‖ gcmTag(16) ‖ ciphertext), AES-256-GCM, key =
// PBKDF2-HMAC-SHA256(ENCRYPTION_KEY, salt, 100000 iterations, 32 bytes).
//
// Needs only Node ≥ 18 (node:crypto), no npm packages.
//
//   node make-vectors.mjs generate > vectors.json
//       writes fresh vectors (random salt and iv) under the test key below.
//   TPI_ENCRYPTION_KEY=... node make-vectors.mjs decrypt < blobs.json
//       reads a JSON array of base64 blobs (the Go side's Encrypt output)
//       and writes a JSON array of the plaintexts, each base64-encoded, or
//       {"error": "..."} for a blob Node cannot decrypt.

import crypto from "node:crypto";
import fs from "node:fs";

const ALGORITHM = "aes-256-gcm";
const SALT_LENGTH = 32;
const IV_LENGTH = 16;
const TAG_LENGTH = 16;
const ITERATIONS = 100000;
const KEY_LENGTH = 32;

// TEST_KEY is a test value only; vectors.json is made under it.
const TEST_KEY = "tpi-workers test ENCRYPTION_KEY (not a secret)";

function deriveKey(secret, salt) {
  return crypto.pbkdf2Sync(secret, salt, ITERATIONS, KEY_LENGTH, "sha256");
}

function encrypt(secret, text) {
  const salt = crypto.randomBytes(SALT_LENGTH);
  const iv = crypto.randomBytes(IV_LENGTH);
  const key = deriveKey(secret, salt);
  const cipher = crypto.createCipheriv(ALGORITHM, key, iv);
  const encrypted = Buffer.concat([cipher.update(text, "utf8"), cipher.final()]);
  const tag = cipher.getAuthTag();
  return Buffer.concat([salt, iv, tag, encrypted]).toString("base64");
}

function decrypt(secret, blob) {
  const data = Buffer.from(blob, "base64");
  const salt = data.subarray(0, SALT_LENGTH);
  const iv = data.subarray(SALT_LENGTH, SALT_LENGTH + IV_LENGTH);
  const tag = data.subarray(SALT_LENGTH + IV_LENGTH, SALT_LENGTH + IV_LENGTH + TAG_LENGTH);
  const encrypted = data.subarray(SALT_LENGTH + IV_LENGTH + TAG_LENGTH);
  const key = deriveKey(secret, salt);
  const decipher = crypto.createDecipheriv(ALGORITHM, key, iv);
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(encrypted), decipher.final()]);
}

const PLAINTEXTS = [
  { name: "api-token credentials", text: JSON.stringify({ email: "qa.lead@example.com", apiToken: "ATATT3xFfGF0-test-token-0123456789" }) },
  { name: "personal access token credentials", text: JSON.stringify({ personalAccessToken: "azdo-pat-test-0123456789abcdefghijklmnopqrstuvwxyz" }) },
  { name: "oauth access token", text: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.test-signature_0123456789" },
  { name: "unicode", text: "Grüße, 東京 — ключ 🔑 \u0000 end" },
  { name: "empty string", text: "" },
  { name: "long text", text: "0123456789abcdef".repeat(300) },
];

const mode = process.argv[2];
if (mode === "generate") {
  const vectors = PLAINTEXTS.map(({ name, text }) => ({ name, plaintext: text, blob: encrypt(TEST_KEY, text) }));
  process.stdout.write(JSON.stringify({ key: TEST_KEY, node: process.version, vectors }, null, 2) + "\n");
} else if (mode === "decrypt") {
  const secret = process.env.TPI_ENCRYPTION_KEY;
  if (!secret) {
    process.stderr.write("TPI_ENCRYPTION_KEY is not set\n");
    process.exit(2);
  }
  const blobs = JSON.parse(fs.readFileSync(0, "utf8"));
  const out = blobs.map((blob) => {
    try {
      return { plaintext: decrypt(secret, blob).toString("base64") };
    } catch (e) {
      return { error: String(e && e.message) };
    }
  });
  process.stdout.write(JSON.stringify(out) + "\n");
} else {
  process.stderr.write("usage: node make-vectors.mjs generate | decrypt\n");
  process.exit(2);
}
