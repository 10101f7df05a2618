#include "daemon/service.h"  // upward: gc/ sits below daemon/
