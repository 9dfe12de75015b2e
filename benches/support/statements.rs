//! Distinct one-sentence memories for the benches that need many (`memory_index`, the chat
//! bench's memories scenario).

/// Who the memory is about.
pub const WHO: &[&str] = &[
    "Has a sister",
    "Has a brother",
    "Has a cousin",
    "Has an old friend",
    "Has a colleague",
    "Has a neighbour",
    "Has an aunt",
    "Has a former teacher",
    "Has a business partner",
    "Has a flatmate",
];

/// Where they live.
pub const WHERE: &[&str] = &[
    "in Lyon",
    "in Porto",
    "in Osaka",
    "in Leeds",
    "in Cork",
    "in Denver",
    "in Nairobi",
    "in Montreal",
    "in Krakow",
    "in Seville",
    "in Hanoi",
    "in Perth",
    "in Bergen",
    "in Quito",
    "in Tallinn",
    "in Dakar",
    "in Glasgow",
    "in Bologna",
    "in Austin",
    "in Busan",
];

/// What they do.
pub const WHAT: &[&str] = &[
    "who teaches piano",
    "who repairs bicycles",
    "who writes crime novels",
    "who trains guide dogs",
    "who runs a bakery",
    "who studies marine biology",
    "who builds furniture",
    "who coaches youth football",
    "who designs video games",
    "who works night shifts at a hospital",
    "who grows orchids",
    "who restores old cars",
    "who sings in a jazz band",
    "who volunteers at an animal shelter",
    "who brews cider",
    "who teaches yoga",
    "who flies cargo planes",
    "who keeps bees",
    "who paints murals",
    "who translates Japanese manga",
    "who fixes church organs",
    "who sells vintage maps",
    "who climbs mountains",
    "who makes cheese",
    "who photographs weddings",
];

/// Something more, or nothing.
pub const WHEN: &[&str] = &[
    "",
    " and visits every summer",
    " and calls on Sundays",
    " and is moving soon",
    " and just had a baby",
    " and turns forty in May",
    " and is getting married in June",
    " and recently retired",
    " and lent the user a tent",
    " and is learning Spanish",
    " and hates flying",
    " and loves chess",
    " and owns a sailboat",
    " and has three dogs",
    " and started a podcast",
    " and ran a marathon last year",
    " and is allergic to cats",
    " and collects stamps",
    " and speaks four languages",
    " and is vegetarian",
    " and plays the cello",
    " and works from home",
];

/// Distinct one-sentence statements of the kind extraction stores ("Has a sister in Lyon who
/// teaches piano"), as many as wanted: every combination of a few hand-written parts.
pub fn statements() -> impl Iterator<Item = String> {
    WHEN.iter().flat_map(|when| {
        WHAT.iter().flat_map(move |what| {
            WHERE.iter().flat_map(move |place| WHO.iter().map(move |who| format!("{who} {place} {what}{when}")))
        })
    })
}
