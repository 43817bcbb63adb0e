//! The local GT Studio emulator (issue #3; placeholder interface on main until the branch lands).

use std::path::PathBuf;

#[derive(Debug, Clone, Default)]
pub struct Seed {
    pub keys: Vec<SeedKey>,
    pub projects: Vec<SeedProject>,
}
#[derive(Debug, Clone)]
pub struct SeedKey {
    pub key: String,
    pub projects: ProjectAccess,
}
#[derive(Debug, Clone)]
pub enum ProjectAccess {
    All,
}
#[derive(Debug, Clone)]
pub struct SeedProject {
    pub id: uuid::Uuid,
    pub name: String,
    pub base: String,
    pub workflows: Vec<uuid::Uuid>,
}
#[derive(Debug, Clone, Default)]
pub struct EmulatorOptions {
    pub port: u16,
    pub db: Option<PathBuf>,
    pub seed: Seed,
}
#[derive(Debug, thiserror::Error)]
#[error("the emulator is not merged yet")]
pub struct EmulatorError;
pub struct EmulatorHandle;
impl EmulatorHandle {
    pub fn base_url(&self) -> String {
        String::new()
    }
}
pub async fn start(_options: EmulatorOptions) -> Result<EmulatorHandle, EmulatorError> {
    Err(EmulatorError)
}
