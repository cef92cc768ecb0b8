#include "common/clock.h"

namespace runnel {

SystemClock& SystemClock::Get() {
  static SystemClock clock;
  return clock;
}

}  // namespace runnel
