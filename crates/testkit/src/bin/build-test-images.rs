//! `build-test-images`: builds the Dockerfile's images the container tests run (the
//! broker's, then the operator's) exactly as those tests do, so that `./test.sh` can
//! start the builds in the background while the other tests run. The builds are the test
//! kit's own ([`images::ensure_image`]): one at a time on the machine, skipped when the
//! image was built from the same inputs; a container test that starts before its image is
//! ready waits for this build instead of starting its own. Exits non-zero, saying why, if
//! a build fails (the container tests then try again and fail on their own).

use ironlog_testkit::images;

fn main() {
    for image in [images::BROKER, images::OPERATOR] {
        let tag = images::ensure_image(&image);
        println!("build-test-images: {tag} is ready");
    }
}
