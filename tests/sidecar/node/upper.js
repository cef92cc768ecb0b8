// A node-streams function for riff's Node invoker: upper-cases each text message of its input.
const { Transform } = require("stream");

module.exports = (inputStreams, outputStreams) => {
    const upper = new Transform({
        objectMode: true,
        transform(message, _, callback) {
            callback(null, String(message.payload).toUpperCase());
        },
    });
    inputStreams.$order[0].pipe(upper).pipe(outputStreams.$order[0]);
};
module.exports.$interactionModel = "node-streams";
