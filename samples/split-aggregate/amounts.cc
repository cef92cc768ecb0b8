// amounts: the split-and-aggregate sample's data generator. Prints {"amount": n} events, one
// JSON object per line, n a whole number from 1 to 10, --rate per second for --seconds seconds
// (or --count events). Deterministic for a --seed. Pipe it into
// `runnel publish STREAM --file - --lines`.
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string_view>
#include <thread>

int main(int argc, char** argv) {
  unsigned seed = 1;
  double rate = 10, seconds = 20;
  long count = -1;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string_view flag = argv[i];
    if (flag == "--seed") {
      seed = static_cast<unsigned>(std::atol(argv[i + 1]));
    } else if (flag == "--rate") {
      rate = std::atof(argv[i + 1]);
    } else if (flag == "--seconds") {
      seconds = std::atof(argv[i + 1]);
    } else if (flag == "--count") {
      count = std::atol(argv[i + 1]);
    } else {
      std::cerr << "usage: amounts [--seed N] [--rate PER_SECOND] [--seconds S | --count N]\n";
      return 2;
    }
  }
  if (argc % 2 == 0 || rate <= 0) {
    std::cerr << "usage: amounts [--seed N] [--rate PER_SECOND] [--seconds S | --count N]\n";
    return 2;
  }
  if (count < 0) {
    count = static_cast<long>(rate * seconds);
  }
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> amount(1, 10);
  const auto interval = std::chrono::duration<double>(1.0 / rate);
  auto next = std::chrono::steady_clock::now();
  for (long i = 0; i < count; ++i) {
    std::cout << "{\"amount\":" << amount(rng) << "}" << std::endl;
    next += std::chrono::duration_cast<std::chrono::steady_clock::duration>(interval);
    std::this_thread::sleep_until(next);
  }
  return 0;
}
