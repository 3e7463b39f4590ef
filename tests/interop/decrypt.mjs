// Decrypt stdin (binary or armored) to stdout with typage.
// Usage: node decrypt.mjs (-i IDENTITY)... | --passphrase   (passphrase in $AGE_PASSPHRASE)
import { Decrypter, armor } from "age-encryption";
import { parseArgs, readStdin, runMain, writeStdout } from "./io.mjs";

runMain(async () => {
    const options = parseArgs(process.argv.slice(2), ["-i"]);
    const decrypter = new Decrypter();
    if (options["--passphrase"]) decrypter.addPassphrase(process.env.AGE_PASSPHRASE);
    for (const identity of options["-i"] ?? []) decrypter.addIdentity(identity);
    let input = await readStdin();
    const text = Buffer.from(input.subarray(0, 64)).toString("latin1").trimStart();
    if (text.startsWith("-----BEGIN AGE ENCRYPTED FILE-----")) {
        input = armor.decode(Buffer.from(input).toString("utf8"));
    }
    await writeStdout(await decrypter.decrypt(input));
});
