// Baseline for the HTTP benchmark: a plain Node `http` server echoing each POST body back.
// Prints "runnel-sdk: ready grpc_port=-1 http_port=<p>" once listening. Usage: node node_http_echo.js
"use strict";
const http = require("http");
const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
        const body = Buffer.concat(chunks);
        res.writeHead(200, {
            "Content-Type": req.headers["content-type"] || "application/octet-stream",
            "Content-Length": body.length,
        });
        res.end(body);
    });
});
server.keepAliveTimeout = 60000;
server.listen(0, "127.0.0.1", () => {
    console.log(`runnel-sdk: ready grpc_port=-1 http_port=${server.address().port}`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
