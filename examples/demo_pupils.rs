//! Prints the demo pupils' and staff's synthetic identity numbers (month + 80: never a real
//! person) for the development login: `cargo run --example demo_pupils`.

fn main() {
    for (n, (birth, _)) in samtykke::demo::demo_pupil_numbers()
        .iter()
        .zip(samtykke::demo::DEMO_PUPILS)
    {
        println!("{}  born {birth}", n.expose_digits());
    }
    for (n, role) in samtykke::demo::demo_staff() {
        println!("{}  staff: {role}", n.expose_digits());
    }
}
