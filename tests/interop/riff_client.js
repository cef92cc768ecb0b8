// Interop: drives Runnel SDK example functions with a riff-rpc client written in Node, using
// riff's own riff-rpc.proto as shipped in @projectriff/node-function-invoker — wire
// compatibility proved by a client and a proto definition that are not ours.
//
// Usage: node riff_client.js <square-binary> <splitter-binary>
// Exits 0 when every check passes; prints each failure and exits 1 otherwise.
"use strict";

const path = require("path");
const { spawn } = require("child_process");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const protoPath = path.join(
    path.dirname(require.resolve("@projectriff/node-function-invoker/package.json")),
    "proto",
    "riff-rpc.proto"
);
const pkg = grpc.loadPackageDefinition(
    protoLoader.loadSync(protoPath, { keepCase: true, longs: String, defaults: true })
);

let failures = 0;
function check(cond, what) {
    if (cond) {
        console.log(`ok   ${what}`);
    } else {
        failures++;
        console.log(`FAIL ${what}`);
    }
}

// Starts a function binary on free ports; resolves with { child, grpcPort }.
function startFunction(binary) {
    return new Promise((resolve, reject) => {
        const child = spawn(binary, ["--host=127.0.0.1", "--grpc-port=0", "--http-port=-1"], {
            stdio: ["ignore", "pipe", "inherit"],
        });
        let buf = "";
        const timer = setTimeout(() => reject(new Error(`${binary} did not start`)), 30000);
        child.stdout.on("data", (d) => {
            buf += d.toString();
            const m = /runnel-sdk: ready grpc_port=(\d+)/.exec(buf);
            if (m) {
                clearTimeout(timer);
                resolve({ child, grpcPort: Number(m[1]) });
            }
        });
        child.on("exit", (code) => reject(new Error(`${binary} exited with ${code}`)));
    });
}

// One Invoke call: writes the signals, half-closes, collects outputs and the final status.
function invoke(port, signals) {
    return new Promise((resolve) => {
        const client = new pkg.streaming.Riff(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
        const call = client.Invoke({ deadline: Date.now() + 60000 });
        const outputs = [];
        call.on("data", (signal) => outputs.push(signal.data));
        call.on("error", (err) => {
            client.close();
            resolve({ code: err.code, details: err.details, outputs });
        });
        call.on("status", (status) => {
            if (status.code === grpc.status.OK) {
                client.close();
                resolve({ code: 0, details: status.details, outputs });
            }
        });
        for (const s of signals) {
            call.write(s);
        }
        call.end();
    });
}

const start = (accept, inputs, outputs) => ({
    start: { expectedContentTypes: accept, inputNames: inputs, outputNames: outputs },
});
const data = (payload, contentType, argIndex = 0, headers = {}) => ({
    data: { payload: Buffer.from(payload), contentType, argIndex, headers },
});

async function main() {
    const [squareBin, splitterBin] = process.argv.slice(2);
    const square = await startFunction(squareBin);
    const splitter = await startFunction(splitterBin);
    try {
        const n = 1000;
        const frames = [start(["application/json"], ["in"], ["out"])];
        for (let i = 0; i < n; i++) frames.push(data(String(i), "application/json"));
        let r = await invoke(square.grpcPort, frames);
        check(r.code === 0, `square: status OK (got ${r.code} ${r.details})`);
        check(r.outputs.length === n, `square: ${n} outputs (got ${r.outputs.length})`);
        check(
            r.outputs.every((o, i) => o.payload.toString() === String(i * i) &&
                o.contentType === "application/json" && o.resultIndex === 0),
            "square: every output is the square, in order, as application/json"
        );

        r = await invoke(square.grpcPort, [
            start(["application/json"], ["in"], ["out"]),
            data("1", "application/x-unknown"),
        ]);
        check(r.code === grpc.status.INVALID_ARGUMENT &&
            r.details.startsWith("Invoker: Unsupported Media Type"),
            `square: unsupported media type is INVALID_ARGUMENT with riff's prefix (${r.details})`);

        r = await invoke(square.grpcPort, [data("1", "application/json")]);
        check(r.code === grpc.status.INVALID_ARGUMENT,
            `square: data before start is rejected (${r.details})`);

        r = await invoke(splitter.grpcPort, [
            start(["application/json", "text/plain"], ["amounts"], ["big", "small"]),
            data("2", "application/json", 0, { id: "a" }),
            data("8", "application/json", 0, { id: "b" }),
        ]);
        check(r.code === 0, `splitter: status OK (${r.details})`);
        const big = r.outputs.filter((o) => o.resultIndex === 0);
        const small = r.outputs.filter((o) => o.resultIndex === 1);
        check(big.length === 1 && big[0].payload.toString() === "8" && big[0].headers.id === "b",
            "splitter: 8 on output 0 with its header");
        check(small.length === 1 && small[0].payload.toString() === "2" &&
            small[0].contentType.startsWith("text/plain"),
            "splitter: 2 on output 1 as text/plain");
    } finally {
        square.child.kill("SIGTERM");
        splitter.child.kill("SIGTERM");
    }
    process.exit(failures === 0 ? 0 : 1);
}

main().catch((err) => {
    console.error(err);
    process.exit(1);
});
