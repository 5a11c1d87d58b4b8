# tests/programs/small_csv.cmake: small_fer_csv(DATA OUT TRAINING VALIDATION TEST) writes OUT, a FER2013 CSV of the
# first TRAINING Training, VALIDATION PublicTest and TEST PrivateTest rows of DATA (a .csv.gz: zcat, awk), for program
# tests that train briefly. Included by the test scripts in this folder.
function(small_fer_csv data out training validation test)
  execute_process(COMMAND zcat "${data}"
                  COMMAND awk -F, -v n=${training} -v m=${validation} -v k=${test} "NR == 1 {print; next} $3 == \"Training\" && t < n {t++; print} $3 == \"PublicTest\" && v < m {v++; print} $3 == \"PrivateTest\" && p < k {p++; print}"
                  OUTPUT_FILE "${out}" RESULT_VARIABLE cut_result)
  if(NOT cut_result EQUAL 0)
    message(FATAL_ERROR "cannot cut ${out} from ${data} (zcat, awk): ${cut_result}")
  endif()
endfunction()
