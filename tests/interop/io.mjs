// Shared helpers of the interop scripts: whole-stdin reads and argument parsing.

export async function readStdin() {
    const chunks = [];
    for await (const chunk of process.stdin) chunks.push(chunk);
    return new Uint8Array(Buffer.concat(chunks));
}

// Parse "-r X -i Y --armor" style arguments into {flag: [values]} and booleans.
export function parseArgs(argv, valued) {
    const options = {};
    for (let i = 0; i < argv.length; i++) {
        const flag = argv[i];
        if (valued.includes(flag)) {
            (options[flag] ??= []).push(argv[++i]);
        } else {
            options[flag] = true;
        }
    }
    return options;
}

export function writeStdout(bytes) {
    return new Promise((resolve, reject) =>
        process.stdout.write(bytes, (err) => (err ? reject(err) : resolve())),
    );
}

// Exit 1 with a one-line message, like the age CLI, on any failure.
export function runMain(main) {
    main().catch((err) => {
        process.stderr.write(`error: ${err && err.message ? err.message : err}\n`);
        process.exitCode = 1;
    });
}
