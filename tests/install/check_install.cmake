# attn as other projects use it: installed into a prefix, the prefix moved
# elsewhere, then
#   - examples/gru_api.c built with `pkg-config --cflags --libs attn`,
#   - the same program built by a CMake project with find_package(attn),
#   - an AOT consumer: the installed attnc compiles gru.attn, a CMake project
#     links the object with attn::attnrt only,
#   - the installed Python package (when -DPYTHON= names a python3 with numpy),
# each loading a copy of the zoo's gru.attn that has no std/ beside it, so its
# import must come from the installed model library; all three print the same
# result. Last, the directories an import searches lie in the moved prefix,
# none in the source or build tree.
#
#   cmake -DBUILD=build -DSRC=repo -DWORK=dir -DCC=cc [-DPYTHON=python3] -P check_install.cmake
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}${err}")
  endif()
  set(out "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK})
run(${CMAKE_COMMAND} --install ${BUILD} --prefix ${WORK}/stage)
file(RENAME ${WORK}/stage ${WORK}/prefix)
set(prefix ${WORK}/prefix)
file(GLOB pc_file ${prefix}/lib*/pkgconfig/attn.pc ${prefix}/lib*/*/pkgconfig/attn.pc)
get_filename_component(pc_dir "${pc_file}" DIRECTORY)
get_filename_component(libdir "${pc_dir}" DIRECTORY)
file(MAKE_DIRECTORY ${WORK}/app)
file(COPY ${prefix}/share/attn/gru.attn DESTINATION ${WORK}/app)
set(weights ${SRC}/examples/gru/weights.safetensors)

# 1. pkg-config
set(ENV{PKG_CONFIG_PATH} ${pc_dir})
run(pkg-config --cflags --libs attn)
separate_arguments(pc_flags UNIX_COMMAND "${out}")
run(${CC} -o ${WORK}/gru_api_pc ${SRC}/examples/gru_api.c ${pc_flags} -Wl,-rpath,${libdir})
run(${WORK}/gru_api_pc ${WORK}/app ${weights})
set(want "${out}")
if(NOT want MATCHES "^h_n: \\[4, 2, 7\\]\n  -?[0-9]")
  message(FATAL_ERROR "pkg-config consumer printed:\n${want}")
endif()

# 2. find_package(attn), the JIT library
run(${CMAKE_COMMAND} -S ${SRC}/tests/install/jit_cmake -B ${WORK}/jit_cmake -DCMAKE_C_COMPILER=${CC}
    -DCMAKE_PREFIX_PATH=${prefix} -DEXAMPLE=${SRC}/examples/gru_api.c)
run(${CMAKE_COMMAND} --build ${WORK}/jit_cmake)
run(${WORK}/jit_cmake/gru_api ${WORK}/app ${weights})
if(NOT out STREQUAL want)
  message(FATAL_ERROR "find_package consumer printed:\n${out}\nthe pkg-config one:\n${want}")
endif()

# 3. ahead of time: the installed attnc, then attn::attnrt alone
file(MAKE_DIRECTORY ${WORK}/aot)
run(${prefix}/bin/attnc compile ${WORK}/app/gru.attn --set num_layers=2 --set bidirectional=true
    --weights ${weights} -o ${WORK}/aot/gru)
run(${CMAKE_COMMAND} -S ${SRC}/tests/install/aot_cmake -B ${WORK}/aot_cmake -DCMAKE_C_COMPILER=${CC}
    -DCMAKE_PREFIX_PATH=${prefix} -DOBJECT=${WORK}/aot/gru.o)
run(${CMAKE_COMMAND} --build ${WORK}/aot_cmake)
run(${WORK}/aot_cmake/gru_aot ${weights})
if(NOT out STREQUAL want)
  message(FATAL_ERROR "AOT consumer printed:\n${out}\nthe JIT one:\n${want}")
endif()

# 4. Python: the package cmake --install put beside the library finds it
if(PYTHON)
  set(ENV{PYTHONPATH} ${libdir}/python3/dist-packages)
  set(ENV{ATTN_LIBRARY} "")
  run(${PYTHON} ${SRC}/tests/install/gru_python.py ${WORK}/app ${weights})
  if(NOT out STREQUAL want)
    message(FATAL_ERROR "the Python consumer printed:\n${out}\nthe C one:\n${want}")
  endif()
endif()

# and `pip install ./python` (from a copy: pip writes into the tree it builds),
# the library named by ATTN_LIBRARY
if(PYTHON)
  execute_process(COMMAND ${PYTHON} -m pip --version RESULT_VARIABLE no_pip OUTPUT_QUIET ERROR_QUIET)
  if(no_pip)
    message("python3-pip not found: pip install ./python is not tested")
  else()
    file(COPY ${SRC}/python DESTINATION ${WORK}/pip_src PATTERN "__pycache__" EXCLUDE PATTERN "*.egg-info" EXCLUDE)
    run(${PYTHON} -m pip install --no-build-isolation --no-deps --no-index --quiet --target ${WORK}/pip
        ${WORK}/pip_src/python)
    set(ENV{PYTHONPATH} ${WORK}/pip)
    set(ENV{ATTN_LIBRARY} ${libdir}/libattn.so)
    run(${PYTHON} ${SRC}/tests/install/gru_python.py ${WORK}/app ${weights})
    if(NOT out STREQUAL want)
      message(FATAL_ERROR "the pip-installed Python consumer printed:\n${out}\nthe C one:\n${want}")
    endif()
  endif()
endif()

# 5. where imports are searched: only in the moved prefix
file(WRITE ${WORK}/app/missing.attn "import \"std/none.attn\"\n")
execute_process(COMMAND ${prefix}/bin/attnc check ${WORK}/app/missing.attn ERROR_VARIABLE err RESULT_VARIABLE rc)
file(REAL_PATH ${prefix}/share/attn installed_models)
if(rc EQUAL 0 OR NOT err MATCHES "searched next to [^ ]*missing.attn, in ${installed_models}\\)")
  message(FATAL_ERROR "unexpected search path:\n${err}")
endif()
message("installed attn used from pkg-config, CMake and AOT consumers")
