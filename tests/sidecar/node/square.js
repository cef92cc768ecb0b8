// A request-reply function for riff's Node invoker. Asynchronous on purpose: results come back
// on later event-loop turns, which is when the invoker 0.3.0 drops outputs still in flight if
// the caller half-closes right after its last input.
module.exports = async (x) => {
    await new Promise((resolve) => setImmediate(resolve));
    return x * x;
};
