// A temporary directory for a test, removed with the files left in it.
#pragma once

#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

#include <doctest.h>

namespace test {

struct temp_dir {
    std::string path;
    temp_dir() {
        char name[] = "/tmp/syncws-test-XXXXXX";
        REQUIRE(::mkdtemp(name) != nullptr);
        path = name;
    }
    ~temp_dir() {
        if (DIR* dir = ::opendir(path.c_str())) {
            while (const dirent* entry = ::readdir(dir))
                if (entry->d_name[0] != '.') ::unlink((path + "/" + entry->d_name).c_str());
            ::closedir(dir);
        }
        ::rmdir(path.c_str());
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
};

}  // namespace test
