// Encrypt stdin to stdout with typage.
// Usage: node encrypt.mjs (-r RECIPIENT)... [--armor]
//        node encrypt.mjs --passphrase [--work-factor N] [--armor]   (passphrase in $AGE_PASSPHRASE)
import { Encrypter, armor } from "age-encryption";
import { parseArgs, readStdin, runMain, writeStdout } from "./io.mjs";

runMain(async () => {
    const options = parseArgs(process.argv.slice(2), ["-r", "--work-factor"]);
    const encrypter = new Encrypter();
    if (options["--passphrase"]) {
        encrypter.setPassphrase(process.env.AGE_PASSPHRASE);
        if (options["--work-factor"]) encrypter.setScryptWorkFactor(Number(options["--work-factor"][0]));
    }
    for (const recipient of options["-r"] ?? []) encrypter.addRecipient(recipient);
    const ciphertext = await encrypter.encrypt(await readStdin());
    await writeStdout(options["--armor"] ? armor.encode(ciphertext) : ciphertext);
});
