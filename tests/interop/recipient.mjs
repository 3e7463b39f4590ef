// Print the recipient of the identity given as the only argument.
import { identityToRecipient } from "age-encryption";

process.stdout.write(`${await identityToRecipient(process.argv[2])}\n`);
