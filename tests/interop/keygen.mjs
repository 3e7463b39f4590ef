// Print a new age identity (line 1) and its recipient (line 2), made by typage.
// Usage: node keygen.mjs [--pq]
import { generateHybridIdentity, generateX25519Identity, identityToRecipient } from "age-encryption";

const pq = process.argv.includes("--pq");
const identity = pq ? await generateHybridIdentity() : await generateX25519Identity();
process.stdout.write(`${identity}\n${await identityToRecipient(identity)}\n`);
