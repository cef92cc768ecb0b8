// The function riff's Node invoker hosts in the benchmark (FUNCTION_URI points here).
module.exports = (x) => x ** 2;
