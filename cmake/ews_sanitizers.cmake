# EWS_SANITIZE: ASan + UBSan for everything built here (tests included).
# EWS_TSAN: ThreadSanitizer; exclusive with EWS_SANITIZE.
if(EWS_SANITIZE AND EWS_TSAN)
  message(FATAL_ERROR "EWS_SANITIZE and EWS_TSAN cannot be combined")
endif()
# vptr is off: cpprestsdk's stream buffers (Debian's prebuilt library, no
# RTTI-compatible instrumentation) trip it inside cpprest/astreambuf.h on
# every streaming read; everything else in UBSan stays fatal.
if(EWS_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize=vptr -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
if(EWS_TSAN)
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
endif()
